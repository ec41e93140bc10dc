"""Datasets by name: the ``DATASETS`` registry and :func:`load_dataset`.

A dataset is named in a recipe (``[data] name = "mnist1d"``) and loaded into
memory as a :class:`~kerastricks.data.base.Dataset`. Each loader is a plain
function whose keyword-only signature is its option schema: options from a
recipe are validated against it (unknown keys and out-of-range values fail at
once, naming ``data.<option>``) before anything heavy runs.

Built-in names:

- ``mnist1d``: MNIST-1D, generated offline by the ``mnist1d`` package and cached.
- ``digits``: scikit-learn's bundled 8x8 digits.
- ``mnist``, ``fashion_mnist``, ``cifar10``, ``cifar100``: ``keras.datasets``,
  from the Keras cache or downloaded.
- ``npz:PATH``, ``csv:PATH``, ``folder:PATH``: the user's own files. ``PATH``
  is relative to the current working directory.

Everything is loaded into numpy arrays, so these loaders are for data that
fits in memory. Test splits carved out by a loader (``digits``, ``csv:``,
``folder:`` without ``train/``/``test/``) use a fixed seed
(:data:`TEST_SPLIT_SEED`), so the test set does not move with the run seed.

Example:
    >>> ds = load_dataset("mnist1d", validation_split=0.1, seed=0)
    >>> ds.input_shape, ds.num_classes
    ((40, 1), 10)

Your own loader, usable by name in recipes:
    >>> @register_dataset("my_data", description="my sensor recordings")
    ... def load_my_data(*, window: int = 128) -> Dataset:
    ...     ...
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import inspect
import json
import logging
import os
import random
import socket
import tempfile
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import numpy as np
from pydantic import Field

from kerastricks.data.base import NORMALIZE_METHODS, Dataset, split_indices, split_validation
from kerastricks.data.base import normalize as normalize_dataset
from kerastricks.errors import ConfigError, DataError
from kerastricks.registry import Entry, Registry, normalize_name
from kerastricks.validation import PositiveInt, validate_options

logger = logging.getLogger(__name__)

Loader = Callable[..., Dataset]
"""A dataset loader: keyword-only options in, :class:`Dataset` out."""

DATASETS: Registry[Loader] = Registry("dataset")
"""Every dataset name a recipe accepts, with its loader and a description."""

TEST_SPLIT_SEED = 0
"""Seed of the test splits that loaders carve out themselves (fixed, not the run seed)."""

PATH_SUFFIX = ":PATH"

# Option types shared by several loaders.
TaskOption = Literal["auto", "classification", "regression"]
HoldOutFraction = Annotated[float, Field(gt=0, lt=1)]
ColorMode = Literal["rgb", "grayscale", "rgba"]
ImageSize = Annotated[tuple[PositiveInt, ...], Field(min_length=2, max_length=2)]

_CACHE_FORMAT = 1


# --------------------------------------------------------------------------- #
# Registry and entry point
# --------------------------------------------------------------------------- #


def register_dataset(name: str, *, description: str) -> Callable[[Loader], Loader]:
    """Register a loader so recipes and ``load_dataset`` accept ``name``.

    The loader's keyword-only arguments are its options (annotate them, e.g.
    with :data:`~kerastricks.validation.PositiveInt`, to get range checks) and
    it returns a :class:`Dataset`. A ``name`` ending in ``:PATH`` (``"h5:PATH"``)
    registers a prefix form: ``"h5:data/x.h5"`` then calls the loader with the
    path as its first positional argument.

    Args:
        name: Dataset name (case-insensitive; ``-`` and ``_`` are alike).
        description: One line shown by ``kerastricks list datasets``.

    Returns:
        A decorator that registers the loader and returns it unchanged.

    Example:
        >>> @register_dataset("toy", description="two Gaussian blobs")
        ... def load_toy(*, n: PositiveInt = 100) -> Dataset:
        ...     ...
    """
    prefix = name.upper().endswith(PATH_SUFFIX)
    return DATASETS.register(name, description=description, prefix=prefix)


def cache_dir() -> Path:
    """Where kerastricks caches generated data.

    ``$KERASTRICKS_CACHE_DIR`` if set, else the platform's user cache directory
    (``~/.cache/kerastricks`` on Linux). Datasets live under ``datasets/``.
    """
    override = os.environ.get("KERASTRICKS_CACHE_DIR")
    if override:
        return Path(override).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("kerastricks"))


def resolve_dataset(name: str, *, file: str | None = None) -> tuple[Entry[Loader], str | None]:
    """The registry entry for ``name`` and, for a prefix form, its path.

    Raises:
        ConfigError: unknown name (key ``data.name``), with the closest name suggested.
    """
    text = str(name).strip()
    prefix, sep, rest = text.partition(":")
    if sep and f"{prefix}{PATH_SUFFIX}" in DATASETS:
        entry = DATASETS.get(f"{prefix}{PATH_SUFFIX}")
        if entry.meta.get("prefix"):
            if not rest.strip() or rest.strip() == "PATH":
                raise ConfigError(
                    f"dataset '{text}' names no file",
                    file=file,
                    key="data.name",
                    expected=f"'{normalize_name(prefix)}:' followed by a file path",
                    received=text,
                )
            return entry, rest.strip()
    try:
        entry = DATASETS.get(text, key="data.name")
    except ConfigError as err:
        hint = _file_hint(text) or err.hint
        raise ConfigError(
            err.message, file=file, key=err.key, expected=err.expected, received=err.received, hint=hint
        ) from None
    return entry, None


def _file_hint(name: str) -> str | None:
    suffix = Path(name).suffix.lower()
    kind = {".npz": "npz", ".csv": "csv"}.get(suffix)
    if kind is None and os.path.isdir(name):
        kind = "folder"
    return f"for a file, write '{kind}:{name}'" if kind else None


def load_dataset(
    name: str,
    options: dict[str, Any] | None = None,
    *,
    validation_split: float = 0.0,
    normalize: str = "auto",
    seed: int = 0,
    file: str | None = None,
    long_tail: dict[str, Any] | None = None,
    validated: bool = False,
) -> Dataset:
    """Load a dataset by name, split off validation data and normalize it.

    Steps: resolve the name, validate ``options`` against the loader's
    signature, load, split ``validation_split`` of the training set off
    (stratified for classification, seeded by ``seed``), then normalize every
    split with statistics of the (remaining) training split.

    Args:
        name: A registered name (``"mnist1d"``) or a prefix form
            (``"npz:data/train.npz"``, ``"csv:x.csv"``, ``"folder:images/"``).
        options: Loader options, as in the recipe's ``[data]`` table.
        validation_split: Share of the training set held out for validation,
            in ``[0, 1)``; 0 keeps no validation set (or the loader's own).
        normalize: ``"auto"`` (the loader's default), ``"standard"``,
            ``"minmax"``, ``"scale255"`` or ``"none"``; see
            :func:`~kerastricks.data.base.normalize`.
        seed: Seed of the validation split.
        file: The recipe the request comes from; named in option errors.
        validated: ``options`` were validated already (a recipe's are): skip it.
        long_tail: ``{"imbalance_ratio": r, "n_max": None}``: after the
            validation split, keep a long-tailed subset of the training split
            (:func:`~kerastricks.data.make_long_tailed`, seeded by ``seed``).
            The validation split is taken first, stratified from the balanced
            pool, so validation (like test) stays balanced.

    Returns:
        The :class:`Dataset`; ``meta`` records source, split and normalization.

    Raises:
        ConfigError: unknown name or option, or a value out of range
            (naming ``data.<key>`` and ``file``).
        DataError: the data cannot be found, read or used.
    """
    if not 0 <= validation_split < 1:
        raise ConfigError(
            file=file,
            key="data.validation_split",
            expected="a value >= 0 and < 1",
            received=validation_split,
        )
    if str(normalize).lower() not in NORMALIZE_METHODS:
        raise ConfigError(
            file=file,
            key="data.normalize",
            expected=f"one of {', '.join(NORMALIZE_METHODS)}",
            received=normalize,
        )
    entry, path = resolve_dataset(name, file=file)
    loader = entry.obj
    # A prefix loader's first parameter takes the path; it is not a recipe option.
    exclude = (next(iter(inspect.signature(loader).parameters)),) if path is not None else ()
    opts = (dict(options or {}) if validated else
            validate_options(loader, dict(options or {}), section="data", file=file, exclude=exclude))
    ds = loader(path, **opts) if path is not None else loader(**opts)
    if not isinstance(ds, Dataset):
        raise TypeError(f"dataset loader {entry.name!r} returned {type(ds).__name__}, expected a Dataset")
    check_usable(ds, source=path or f"dataset '{entry.name}'")
    if validation_split > 0:
        if ds.x_val is not None:
            raise ConfigError(
                f"dataset '{ds.name}' comes with its own validation split",
                file=file,
                key="data.validation_split",
                expected="0",
                received=validation_split,
            )
        stratify = ds.task == "classification"
        x_tr, y_tr, x_val, y_val = split_validation(
            ds.x_train, ds.y_train, validation_split, seed, stratify
        )
        ds = Dataset(
            name=ds.name, x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val,
            x_test=ds.x_test, y_test=ds.y_test, task=ds.task, num_classes=ds.num_classes,
            class_names=ds.class_names,
            meta={**ds.meta, "validation_split": float(validation_split), "split_seed": int(seed)},
        )
    if long_tail is not None:
        ds = _long_tailed(ds, long_tail, seed, file)
    return normalize_dataset(ds, normalize)


def check_usable(ds: Dataset, *, source: str) -> None:
    """Raise ``DataError`` (one line naming ``source``) for data no model can learn from honestly:
    non-finite features, a classification set with fewer than two classes, labels outside
    ``[0, num_classes)``, or an empty split."""
    for split in ("train", "val", "test"):
        x, y = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        if x is None:
            continue
        if split in ("train", "test") and len(x) == 0:
            raise DataError(f"the {split} split is empty", file=source, expected="at least one example",
                            received="0 examples")
        if np.issubdtype(np.asarray(x).dtype, np.floating):
            bad = ~np.isfinite(np.asarray(x).reshape(len(x), -1)).all(axis=1)
            if bad.any():
                rows = np.flatnonzero(bad)
                raise DataError(f"{int(bad.sum())} {split} example(s) have NaN or infinite features", file=source,
                                key=f"x_{split}", expected="finite numbers",
                                received=f"non-finite values in rows {', '.join(map(str, rows[:5].tolist()))}"
                                + (" ..." if len(rows) > 5 else ""))
        if ds.task == "classification" and y is not None and len(y):
            labels = np.asarray(y)
            if labels.ndim == 1 and np.issubdtype(labels.dtype, np.number):
                if labels.min() < 0 or labels.max() >= ds.num_classes:
                    raise DataError(f"{split} labels outside 0..{ds.num_classes - 1}", file=source,
                                    key=f"y_{split}", expected=f"integer labels in [0, {ds.num_classes})",
                                    received=f"labels from {labels.min()} to {labels.max()}")
    if ds.task == "classification":
        present = np.unique(np.asarray(ds.y_train))
        if len(present) < 2 or (ds.num_classes or 0) < 2:
            raise DataError("classification needs at least two classes in the training data", file=source,
                            expected=">= 2 classes", received=f"{len(present)} class(es)")


def _long_tailed(ds: Dataset, options: dict[str, Any], seed: int, file: str | None) -> Dataset:
    from kerastricks.data.long_tail import class_counts, make_long_tailed

    if ds.task != "classification":
        raise ConfigError("long-tailed data needs a classification dataset", file=file, key="data.long_tail",
                          expected="classification data", received=ds.task)
    ratio = float(options["imbalance_ratio"])
    try:
        x_tr, y_tr = make_long_tailed(ds.x_train, ds.y_train, ratio, seed, n_max=options.get("n_max"),
                                      num_classes=ds.num_classes)
    except DataError as exc:
        raise DataError(f"dataset '{ds.name}': {exc.line()}", file=file) from None
    counts = class_counts(y_tr, ds.num_classes)
    return Dataset(
        name=ds.name, x_train=x_tr, y_train=y_tr, x_val=ds.x_val, y_val=ds.y_val,
        x_test=ds.x_test, y_test=ds.y_test, task=ds.task, num_classes=ds.num_classes,
        class_names=ds.class_names,
        meta={**ds.meta, "long_tail": {"imbalance_ratio": ratio, "n_max": int(counts.max()),
                                       "class_counts": counts.tolist()}},
    )


# --------------------------------------------------------------------------- #
# Shared helpers
# --------------------------------------------------------------------------- #


def _cwd_hint(path: str) -> str | None:
    return None if Path(path).expanduser().is_absolute() else f"relative paths start at {os.getcwd()}"


def _existing_file(path: str) -> Path:
    p = Path(path).expanduser()
    if not p.exists():
        raise DataError("file not found", file=path, hint=_cwd_hint(path))
    if not p.is_file():
        raise DataError("not a file", file=path, expected="a file", received="a directory")
    return p


def _add_channel_axis(x: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` images -> ``(N, H, W, 1)``; other shapes unchanged."""
    return x[..., None] if x.ndim == 3 else x


def _is_integral(y: np.ndarray) -> bool:
    if np.issubdtype(y.dtype, np.integer) or np.issubdtype(y.dtype, np.bool_):
        return True
    if not np.issubdtype(y.dtype, np.floating):
        return False
    return bool(np.all(np.isfinite(y)) and np.all(np.mod(y, 1) == 0))


def _is_one_hot(y: np.ndarray) -> bool:
    return (
        y.ndim == 2
        and y.shape[1] >= 2
        and bool(np.all((y == 0) | (y == 1)))
        and bool(np.all(y.sum(axis=1) == 1))
    )


def _resolve_targets(
    y_train: np.ndarray,
    y_test: np.ndarray,
    *,
    task: str,
    num_classes: int | None,
    file: str,
) -> tuple[np.ndarray, np.ndarray, str, int | None, list[str] | None]:
    """Decide the task and turn targets into labels (classification) or floats.

    One-hot ``(N, C)`` targets become labels; ``(N, 1)`` labels are flattened;
    ``task="auto"`` picks classification for integer-valued labels.
    """
    width = None
    one_hot = _is_one_hot(y_train) and _is_one_hot(y_test) and y_train.shape[1] == y_test.shape[1]
    if task != "regression" and one_hot:
        width = y_train.shape[1]
        y_train, y_test = y_train.argmax(axis=1), y_test.argmax(axis=1)
        task = "classification"
    elif task != "regression" and y_train.ndim == 2 and y_train.shape[1] == 1 and y_test.shape[1:] == (1,):
        y_train, y_test = y_train[:, 0], y_test[:, 0]
    if task == "auto":
        integral = y_train.ndim == 1 and _is_integral(y_train) and _is_integral(y_test)
        task = "classification" if integral else "regression"
    if task == "regression":
        return y_train, y_test, task, None, None
    if y_train.ndim != 1 or y_test.ndim != 1:
        raise DataError(
            "classification labels must be 1-D integers or one-hot rows",
            file=file,
            received=f"y_train shape {tuple(y_train.shape)}",
        )
    if not (_is_integral(y_train) and _is_integral(y_test)):
        raise DataError(
            "classification labels must be integers", file=file, received=f"dtype {y_train.dtype}"
        )
    low = min(y_train.min(initial=0), y_test.min(initial=0))
    if low < 0:
        raise DataError("classification labels must be >= 0", file=file, received=f"label {int(low)}")
    needed = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    needed = max(needed, width or 0)
    if num_classes is None:
        num_classes = needed
    elif num_classes < needed:
        raise DataError(
            f"labels go up to {needed - 1}",
            file=file,
            key="data.num_classes",
            expected=f">= {needed}",
            received=num_classes,
        )
    return y_train, y_test, task, int(num_classes), [str(i) for i in range(num_classes)]


def _options_hash(options: dict[str, Any]) -> str:
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _read_cache(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
    """Arrays from a cache file, or ``None`` when absent or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in keys}
        if len(arrays[keys[0]]) != len(arrays[keys[1]]):
            raise ValueError("inconsistent lengths")
        return arrays
    except Exception as exc:  # any damage: regenerate instead of failing
        logger.warning("ignoring unreadable cache file %s (%s); regenerating", path, exc)
        return None


def _write_cache(path: Path, arrays: dict[str, np.ndarray]) -> bool:
    """Write ``arrays`` to ``path`` atomically (temp file + rename); ``False`` on failure."""
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return True
    except OSError as exc:  # a read-only cache only costs time
        logger.warning("could not write cache file %s (%s)", path, exc)
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.remove(tmp)
        return False


@contextlib.contextmanager
def _preserved_global_rng() -> Iterator[None]:
    """Restore Python's and numpy's global RNG state (generators that reseed them)."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


# --------------------------------------------------------------------------- #
# Embedded datasets
# --------------------------------------------------------------------------- #

_MNIST1D_KEYS = ("x_train", "y_train", "x_test", "y_test")


@register_dataset(
    "mnist1d",
    description="MNIST-1D (Greydanus 2020): 10-class 1-D signals, generated offline; "
    "4000 train / 1000 test of length 40",
)
def load_mnist1d(
    *,
    num_samples: Annotated[int, Field(ge=20)] = 5000,
    seed: int = 42,
    length: PositiveInt = 40,
) -> Dataset:
    """MNIST-1D, generated with the ``mnist1d`` package and cached on disk.

    The package's own generator (``make_dataset(get_dataset_args())``) with
    three arguments exposed; everything else keeps the package defaults
    (80/20 train/test split, templates, noise). The package already centers
    and scales the signals, so ``normalize="auto"`` leaves them as they are.
    Generation (~4 s for 5000 samples) runs once per option set: the arrays are
    cached in ``cache_dir()/datasets/mnist1d-<hash>.npz``, written atomically;
    an unreadable cache file is regenerated. The global ``random`` / numpy RNG
    state, which the generator reseeds, is restored afterwards.

    Args:
        num_samples: Total samples (train + test), >= 20, rounded down to a
            multiple of 10 (equal per class); default 5000 gives 4000 train /
            1000 test.
        seed: Generator seed (package default 42).
        length: Signal length (``final_seq_length``), default 40.

    Returns:
        Inputs of shape ``(N, length, 1)`` (channels last, for Conv1D / GRU),
        labels 0..9.

    Reference:
        Greydanus, S. and Kobak, D. (2020/2024). Scaling Down Deep Learning with
        MNIST-1D. arXiv:2011.14439.
    """
    import mnist1d
    import mnist1d.data as mnist1d_data

    options = {"num_samples": num_samples, "seed": seed, "length": length}
    version = getattr(mnist1d, "__version__", None) or _package_version("mnist1d")
    key = _options_hash({**options, "format": _CACHE_FORMAT, "mnist1d": version})
    path = cache_dir() / "datasets" / f"mnist1d-{key}.npz"
    arrays = _read_cache(path, _MNIST1D_KEYS)
    cache_hit = arrays is not None
    if arrays is None:
        args = mnist1d_data.get_dataset_args()
        args.num_samples = num_samples
        args.seed = seed
        args.final_seq_length = length
        with _preserved_global_rng():
            raw = mnist1d_data.make_dataset(args)
        arrays = {
            "x_train": raw["x"], "y_train": raw["y"], "x_test": raw["x_test"], "y_test": raw["y_test"]
        }
        _write_cache(path, arrays)
    return Dataset(
        name="mnist1d",
        x_train=arrays["x_train"][..., None],
        y_train=arrays["y_train"],
        x_val=None,
        y_val=None,
        x_test=arrays["x_test"][..., None],
        y_test=arrays["y_test"],
        task="classification",
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        meta={
            "source": "mnist1d package (generated offline)",
            "options": options,
            "cache_path": str(path),
            "cache_hit": cache_hit,
            "default_normalize": "none",
        },
    )


def _package_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@register_dataset(
    "digits",
    description="scikit-learn's bundled 8x8 handwritten digits, 10 classes; 1437 train / 360 test",
)
def load_digits() -> Dataset:
    """scikit-learn's bundled digits as ``(8, 8, 1)`` images in ``[0, 1]``.

    Pixel values 0..16 are divided by 16. The test set is a fixed stratified
    20% (``ceil(0.2 * 1797) = 360`` images, seed :data:`TEST_SPLIT_SEED`),
    leaving 1437 for training.
    """
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    x = (bunch.images / 16.0).astype(np.float32)[..., None]
    y = bunch.target.astype(np.int32)
    train, test = split_indices(y, 0.2, TEST_SPLIT_SEED, stratify=True)
    return Dataset(
        name="digits",
        x_train=x[train], y_train=y[train], x_val=None, y_val=None, x_test=x[test], y_test=y[test],
        task="classification",
        num_classes=10,
        class_names=[str(i) for i in range(10)],
        meta={
            "source": "sklearn.datasets.load_digits",
            "test_fraction": 0.2,
            "test_seed": TEST_SPLIT_SEED,
            "default_normalize": "none",
        },
    )


# --------------------------------------------------------------------------- #
# keras.datasets
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _KerasSource:
    files: tuple[str, ...]  # all present under <keras home>/datasets = cached
    origin: str  # probed before a download, so a dead network fails fast
    class_names: tuple[str, ...] | None = None


_GCS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_KERAS_SOURCES = {
    "mnist": _KerasSource(("mnist.npz",), _GCS + "mnist.npz", tuple(str(i) for i in range(10))),
    "fashion_mnist": _KerasSource(
        tuple(
            f"fashion-mnist/{f}"
            for f in (
                "train-labels-idx1-ubyte.gz",
                "train-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
            )
        ),
        _GCS + "train-labels-idx1-ubyte.gz",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "cifar10": _KerasSource(
        ("cifar-10-batches-py-target_archive",),
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    "cifar100": _KerasSource(
        ("cifar-100-python-target_archive",), "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    ),
}

PROBE_TIMEOUT_S = 5.0
"""Seconds to wait for a connection to a dataset's server before giving up."""


def keras_datasets_dir() -> Path:
    """Where ``keras.datasets`` keeps downloads: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``.

    Like Keras, falls back to ``/tmp/.keras`` when the home is not writable.
    """
    home = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "datasets"


def _probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """``"reachable"``, ``"unreachable"`` (fails fast) or ``"timeout"`` (would hang)."""
    if urllib.request.getproxies():
        return "reachable"  # a proxy decides; let the download try
    host = urlsplit(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except TimeoutError:
        return "timeout"
    except OSError:
        return "unreachable"
    return "reachable"


def _keras_offline_error(name: str, reason: str | None = None) -> DataError:
    where = keras_datasets_dir()
    why = f" ({reason})" if reason else ""
    return DataError(
        f"dataset '{name}' is not in the Keras cache and cannot be downloaded{why}; "
        "supply it offline as npz:PATH with arrays x_train, y_train, x_test, y_test "
        f"(Keras looks in ~/.keras/datasets, or $KERAS_HOME/datasets; here {where})"
    )


def _load_keras(name: str, **kwargs: Any) -> Dataset:
    """Load ``keras.datasets.<name>`` without ever hanging on a dead network.

    A cached copy loads directly. Otherwise the server is probed first
    (:data:`PROBE_TIMEOUT_S`); a connection that would hang fails at once,
    and any failure of the download itself becomes one :class:`DataError`.
    """
    import keras

    source = _KERAS_SOURCES[name]
    cached = all((keras_datasets_dir() / f).exists() for f in source.files)
    if not cached and _probe(source.origin) == "timeout":
        raise _keras_offline_error(name, f"no answer from {urlsplit(source.origin).hostname}")
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data(**kwargs)
    except Exception as exc:  # download, checksum or unpacking failure
        reason = " ".join(str(exc).split())[:160] or type(exc).__name__
        raise _keras_offline_error(name, reason) from None
    names = list(source.class_names) if source.class_names else None
    y_train = np.asarray(y_train).reshape(-1)
    y_test = np.asarray(y_test).reshape(-1)
    num_classes = len(names) if names else int(max(y_train.max(), y_test.max())) + 1
    return Dataset(
        name=name,
        x_train=_add_channel_axis(np.asarray(x_train)),
        y_train=y_train,
        x_val=None,
        y_val=None,
        x_test=_add_channel_axis(np.asarray(x_test)),
        y_test=y_test,
        task="classification",
        num_classes=num_classes,
        class_names=names or [str(i) for i in range(num_classes)],
        meta={
            "source": f"keras.datasets.{name}",
            "load_options": kwargs,
            "keras_cache": str(keras_datasets_dir()),
            "default_normalize": "scale255",
        },
    )


@register_dataset("mnist", description="MNIST handwritten digits via keras.datasets (28x28x1, 60000/10000)")
def load_mnist() -> Dataset:
    """MNIST from ``keras.datasets`` (Keras cache or download); ``(28, 28, 1)`` uint8 -> scale255."""
    return _load_keras("mnist")


@register_dataset("fashion_mnist", description="Fashion-MNIST via keras.datasets (28x28x1, 60000/10000)")
def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST from ``keras.datasets``; ``(28, 28, 1)`` uint8 -> scale255."""
    return _load_keras("fashion_mnist")


@register_dataset("cifar10", description="CIFAR-10 via keras.datasets (32x32x3, 50000/10000)")
def load_cifar10() -> Dataset:
    """CIFAR-10 from ``keras.datasets``; ``(32, 32, 3)`` uint8 -> scale255."""
    return _load_keras("cifar10")


@register_dataset("cifar100", description="CIFAR-100 via keras.datasets (32x32x3, 50000/10000)")
def load_cifar100(*, label_mode: Literal["fine", "coarse"] = "fine") -> Dataset:
    """CIFAR-100 from ``keras.datasets``; ``(32, 32, 3)`` uint8 -> scale255.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
    """
    return _load_keras("cifar100", label_mode=label_mode)


# --------------------------------------------------------------------------- #
# User files
# --------------------------------------------------------------------------- #

_NPZ_KEYS = ("x_train", "y_train", "x_test", "y_test")


@register_dataset(
    "npz:PATH",
    description="arrays x_train, y_train, x_test, y_test in a .npz file (classification or regression)",
)
def load_npz(
    path: str,
    *,
    task: TaskOption = "auto",
    num_classes: PositiveInt | None = None,
    add_channel_axis: bool = True,
) -> Dataset:
    """Arrays ``x_train, y_train, x_test, y_test`` from a ``.npz`` file (other keys ignored).

    Targets: integer labels mean classification with ``max + 1`` classes (or
    ``num_classes``); one-hot rows are turned into labels; non-integer floats
    mean regression. ``(N, H, W)`` images get a channel axis; flat ``(N, F)``
    inputs stay as given. ``normalize="auto"`` scales uint8 inputs by 1/255
    and standardizes anything else.

    Args:
        path: The ``.npz`` file, relative to the working directory.
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        num_classes: Number of classes when some never occur (>= max label + 1).
        add_channel_axis: Turn 3-D ``(N, H, W)`` inputs into ``(N, H, W, 1)``;
            set ``false`` for ``(N, steps, features)`` sequences.

    Raises:
        DataError: missing file, not an npz archive, missing array, mismatched
            lengths or shapes, unusable labels; the message names the file.
    """
    p = _existing_file(path)
    try:
        archive = np.load(p, allow_pickle=False)
    except Exception as exc:
        raise DataError("not a readable .npz archive", file=path, received=_reason(exc)) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            "not an .npz archive",
            file=path,
            expected=f"arrays {', '.join(_NPZ_KEYS)}",
            received="a single .npy array",
        )
    with archive:
        found = list(archive.files)
        arrays = {}
        for key in _NPZ_KEYS:
            if key not in found:
                raise DataError(
                    f"missing array '{key}'",
                    file=path,
                    expected=f"arrays {', '.join(_NPZ_KEYS)}",
                    received=f"arrays {', '.join(found) or '(none)'}",
                )
            try:
                arrays[key] = np.asarray(archive[key])
            except Exception as exc:
                raise DataError(f"array '{key}' cannot be read", file=path, received=_reason(exc)) from None
    x_train, y_train, x_test, y_test = (arrays[k] for k in _NPZ_KEYS)
    for split, x, y in (("train", x_train, y_train), ("test", x_test, y_test)):
        if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
            raise DataError(
                f"x_{split} and y_{split} differ in length",
                file=path,
                received=f"x_{split} shape {x.shape}, y_{split} shape {y.shape}",
            )
        if not (np.issubdtype(x.dtype, np.number) or np.issubdtype(x.dtype, np.bool_)):
            raise DataError(f"x_{split} is not numeric", file=path, received=f"dtype {x.dtype}")
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DataError(
            "x_train and x_test samples differ in shape",
            file=path,
            received=f"{x_train.shape[1:]} and {x_test.shape[1:]}",
        )
    if y_train.shape[1:] != y_test.shape[1:]:
        raise DataError(
            "y_train and y_test differ in shape",
            file=path,
            received=f"{y_train.shape[1:]} and {y_test.shape[1:]}",
        )
    default_normalize = "scale255" if x_train.dtype == np.uint8 else "standard"
    y_train, y_test, task, num_classes, class_names = _resolve_targets(
        y_train, y_test, task=task, num_classes=num_classes, file=path
    )
    if x_train.ndim == 1:
        x_train, x_test = x_train[:, None], x_test[:, None]
    elif add_channel_axis:
        x_train, x_test = _add_channel_axis(x_train), _add_channel_axis(x_test)
    return Dataset(
        name=f"npz:{path}",
        x_train=x_train, y_train=y_train, x_val=None, y_val=None, x_test=x_test, y_test=y_test,
        task=task,
        num_classes=num_classes,
        class_names=class_names,
        meta={
            "source": "npz",
            "path": str(Path(path).expanduser().resolve()),
            "default_normalize": default_normalize,
        },
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:160] if text else type(exc).__name__


@register_dataset(
    "csv:PATH",
    description="a CSV file with a header row and a label column; numeric features",
)
def load_csv(
    path: str,
    *,
    label_column: str = "label",
    task: TaskOption = "auto",
    test_fraction: HoldOutFraction = 0.2,
) -> Dataset:
    """A table of numeric features with one label column, read with the ``csv`` module.

    Every column except ``label_column`` is a feature and must hold finite
    numbers. With ``task="auto"``, integer labels mean classification (labels
    used as given; negative ones are mapped in sorted order), other numbers
    mean regression, and any non-numeric label means classification with
    class names sorted alphabetically. A stratified (for classification) test
    set of ``test_fraction`` is split off with seed :data:`TEST_SPLIT_SEED`.
    ``normalize="auto"`` standardizes the features.

    Args:
        path: The ``.csv`` file (comma-separated, first row is the header).
        label_column: Name of the target column, default ``"label"``.
        task: ``"auto"``, ``"classification"`` or ``"regression"``.
        test_fraction: Share of rows held out for testing, in ``(0, 1)``.

    Raises:
        DataError: missing file, no such label column (the available columns
            are listed), ragged rows, or a non-numeric cell (line and column named).
    """
    p = _existing_file(path)
    try:
        with open(p, newline="", encoding="utf-8-sig") as f:
            header, rows, labels, lines = _read_csv_rows(csv.reader(f), label_column, path)
    except UnicodeDecodeError as exc:
        raise DataError("not a UTF-8 text file", file=path, received=_reason(exc)) from None
    except csv.Error as exc:
        raise DataError("malformed CSV", file=path, received=_reason(exc)) from None
    features = [c for c in header if c != label_column]
    x = _parse_features(rows, lines, features, path)
    y, task, num_classes, class_names = _parse_labels(labels, lines, task, label_column, path)
    classification = task == "classification"
    train, test = split_indices(y, test_fraction, TEST_SPLIT_SEED, stratify=classification)
    return Dataset(
        name=f"csv:{path}",
        x_train=x[train], y_train=y[train], x_val=None, y_val=None, x_test=x[test], y_test=y[test],
        task=task,
        num_classes=num_classes,
        class_names=class_names,
        meta={
            "source": "csv",
            "path": str(p.resolve()),
            "features": features,
            "label_column": label_column,
            "test_fraction": float(test_fraction),
            "test_seed": TEST_SPLIT_SEED,
            "default_normalize": "standard",
        },
    )


def _read_csv_rows(
    reader: Any, label_column: str, path: str
) -> tuple[list[str], list[list[str]], list[str], list[int]]:
    header = next(reader, None)
    if not header:
        raise DataError("empty file", file=path, expected="a header row")
    header = [h.strip() for h in header]
    if label_column not in header:
        raise DataError(
            f"no column '{label_column}' in the header",
            file=path,
            key="data.label_column",
            expected=f"one of {', '.join(header)}",
            received=label_column,
        )
    if len(header) < 2:
        raise DataError(
            "no feature columns besides the label", file=path, received=f"columns {', '.join(header)}"
        )
    li = header.index(label_column)
    rows, labels, lines = [], [], []
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue  # blank line
        if len(row) != len(header):
            raise DataError(
                f"line {reader.line_num}: {len(row)} cells for {len(header)} columns", file=path
            )
        labels.append(row[li].strip())
        rows.append(row[:li] + row[li + 1 :])
        lines.append(reader.line_num)
    if not rows:
        raise DataError("no data rows after the header", file=path)
    return header, rows, labels, lines


def _parse_features(rows: list[list[str]], lines: list[int], features: list[str], path: str) -> np.ndarray:
    try:
        x = np.array(rows, dtype=np.float64)
        bad = None if np.all(np.isfinite(x)) else np.argwhere(~np.isfinite(x))[0]
    except ValueError:
        bad = None
        for i, row in enumerate(rows):
            for j, cell in enumerate(row):
                try:
                    float(cell)
                except ValueError:
                    bad = (i, j)
                    break
            if bad is not None:
                break
    if bad is not None:
        i, j = int(bad[0]), int(bad[1])
        raise DataError(
            f"line {lines[i]}, column '{features[j]}': not a finite number",
            file=path,
            received=repr(rows[i][j]),
        )
    return x


def _parse_labels(
    labels: list[str], lines: list[int], task: str, column: str, path: str
) -> tuple[np.ndarray, str, int | None, list[str] | None]:
    for i, label in enumerate(labels):
        if not label:
            raise DataError(f"line {lines[i]}, column '{column}': empty label", file=path)
    ints = _parse_all(labels, int)
    if task == "regression" or (task == "auto" and ints is None and _parse_all(labels, float) is not None):
        values = _parse_all(labels, float)
        if values is None:
            i = next(i for i, s in enumerate(labels) if _parse_all([s], float) is None)
            raise DataError(
                f"line {lines[i]}, column '{column}': regression target is not a number",
                file=path,
                received=repr(labels[i]),
            )
        return np.asarray(values, np.float32), "regression", None, None
    if ints is not None:
        y = np.asarray(ints, np.int64)
        if y.min() >= 0:
            num_classes = int(y.max()) + 1
            return y.astype(np.int32), "classification", num_classes, [str(i) for i in range(num_classes)]
        uniq, y = np.unique(y, return_inverse=True)
        return y.astype(np.int32), "classification", len(uniq), [str(v) for v in uniq]
    names = sorted(set(labels))
    y = np.searchsorted(np.asarray(names), np.asarray(labels))
    return y.astype(np.int32), "classification", len(names), names


def _parse_all(values: list[str], kind: type) -> list[Any] | None:
    try:
        return [kind(v) for v in values]
    except ValueError:
        return None


@register_dataset(
    "folder:PATH",
    description="image folders, one sub-folder per class (optionally under train/ and test/)",
)
def load_folder(
    path: str,
    *,
    image_size: ImageSize = (32, 32),
    color_mode: ColorMode = "rgb",
    test_fraction: HoldOutFraction = 0.2,
) -> Dataset:
    """Images in class sub-folders, read with ``keras.utils.image_dataset_from_directory``.

    Layouts: ``PATH/train/<class>/*`` and ``PATH/test/<class>/*`` give the two
    splits; otherwise ``PATH/<class>/*`` is split with a stratified test set of
    ``test_fraction`` (seed :data:`TEST_SPLIT_SEED`). Class names are the
    folder names, in sorted order. Images are resized to ``image_size`` and
    loaded into memory as float32 in ``[0, 255]`` (``normalize="auto"``
    scales them by 1/255), so this is for data that fits in memory.

    Args:
        path: The image folder.
        image_size: ``[height, width]`` every image is resized to, default ``[32, 32]``.
        color_mode: ``"rgb"`` (3 channels), ``"grayscale"`` (1) or ``"rgba"`` (4).
        test_fraction: Share held out for testing in the single-folder layout.

    Raises:
        DataError: missing folder, no images, unreadable image, or class
            folders of ``test/`` that differ from those of ``train/`` (a test
            class with no folder in ``train/`` would otherwise be dropped).
    """
    root = Path(path).expanduser()
    if not root.is_dir():
        raise DataError("image folder not found", file=path, hint=_cwd_hint(path))
    read = dict(image_size=tuple(image_size), color_mode=color_mode)
    if (root / "train").is_dir() and (root / "test").is_dir():
        train_classes, test_classes = _class_folders(root / "train"), _class_folders(root / "test")
        if train_classes != test_classes:
            raise DataError(
                "class folders of test/ differ from those of train/",
                file=str(root / "test"),
                expected=", ".join(train_classes) or "(none)",
                received=", ".join(test_classes) or "(none)",
            )
        x_train, y_train, names = _read_image_dir(root / "train", None, **read)
        x_test, y_test, _ = _read_image_dir(root / "test", names, **read)
        layout = "train/test"
        split_meta = {}
    else:
        x, y, names = _read_image_dir(root, None, **read)
        train, test = split_indices(y, test_fraction, TEST_SPLIT_SEED, stratify=True)
        x_train, y_train, x_test, y_test = x[train], y[train], x[test], y[test]
        layout = "single"
        split_meta = {"test_fraction": float(test_fraction), "test_seed": TEST_SPLIT_SEED}
    return Dataset(
        name=f"folder:{path}",
        x_train=x_train, y_train=y_train, x_val=None, y_val=None, x_test=x_test, y_test=y_test,
        task="classification",
        num_classes=len(names),
        class_names=names,
        meta={
            "source": "folder",
            "path": str(root.resolve()),
            "layout": layout,
            "image_size": list(image_size),
            "color_mode": color_mode,
            "default_normalize": "scale255",
            **split_meta,
        },
    )


def _class_folders(directory: Path) -> list[str]:
    """Sub-folder names as Keras infers classes from them (sorted, no hidden ones)."""
    return sorted(d.name for d in directory.iterdir() if d.is_dir() and not d.name.startswith("."))


def _read_image_dir(
    directory: Path, class_names: list[str] | None, *, image_size: tuple[int, int], color_mode: str
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    import keras
    import tensorflow as tf

    try:
        ds = keras.utils.image_dataset_from_directory(
            str(directory),
            labels="inferred",
            label_mode="int",
            class_names=class_names,
            color_mode=color_mode,
            batch_size=256,
            image_size=image_size,
            shuffle=False,
            verbose=False,
        )
    except (ValueError, OSError) as exc:
        if "No images found" in str(exc):
            raise DataError(
                "no images found",
                file=str(directory),
                expected="one sub-folder per class holding .png/.jpg/.jpeg/.bmp/.gif files",
            ) from None
        raise DataError("cannot read image folder", file=str(directory), received=_reason(exc)) from None
    xs, ys = [], []
    try:
        for xb, yb in ds.as_numpy_iterator():
            xs.append(xb)
            ys.append(yb)
    except tf.errors.OpError:
        bad = _first_undecodable(ds.file_paths)
        raise DataError(
            "cannot decode image", file=bad or str(directory), expected="PNG, JPEG, GIF or BMP"
        ) from None
    return np.concatenate(xs), np.concatenate(ys).astype(np.int32), list(ds.class_names)


def _first_undecodable(paths: list[str]) -> str | None:
    import tensorflow as tf

    for p in paths:
        try:
            tf.io.decode_image(tf.io.read_file(p), expand_animations=False)
        except tf.errors.OpError:
            return p
    return None


__all__ = [
    "DATASETS",
    "PROBE_TIMEOUT_S",
    "TEST_SPLIT_SEED",
    "cache_dir",
    "keras_datasets_dir",
    "load_csv",
    "load_dataset",
    "load_digits",
    "load_folder",
    "load_mnist1d",
    "load_npz",
    "register_dataset",
    "resolve_dataset",
]
