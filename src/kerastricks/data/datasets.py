"""Datasets by name: the ``DATASETS`` registry and :func:`load_dataset`.

A dataset is named in a recipe (``[data] name = "mnist1d"``) and loaded into
memory as a :class:`~kerastricks.data.base.Dataset`. Each loader is a plain
function whose keyword-only signature is its option schema: options from a
recipe are validated against it (unknown keys and out-of-range values fail at
once, naming ``data.<option>``) before anything heavy runs.

Built-in names (the loaders live in :mod:`kerastricks.data.sources`, one module
per kind of source, imported the first time a recipe or ``load_dataset`` uses
one, so listing them imports nothing):

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
import hashlib
import inspect
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from kerastricks.data.base import NORMALIZE_METHODS, Dataset, split_validation
from kerastricks.data.base import normalize as normalize_dataset
from kerastricks.errors import ConfigError, DataError
from kerastricks.registry import Entry, Registry, normalize_name
from kerastricks.validation import validate_options

logger = logging.getLogger(__name__)

Loader = Callable[..., Dataset]
"""A dataset loader: keyword-only options in, :class:`Dataset` out."""

DATASETS: Registry[Loader] = Registry("dataset")
"""Every dataset name a recipe accepts, with its loader and a description."""

TEST_SPLIT_SEED = 0
"""Seed of the test splits that loaders carve out themselves (fixed, not the run seed)."""

PATH_SUFFIX = ":PATH"

_SOURCES = "kerastricks.data.sources"

# name -> (loader as "module:attr", description): the built-in datasets, imported on first use.
# A prefix form's path names a "file" or a "folder" (:data:`PATH_KINDS`), checked with the recipe.
_BUILTIN: dict[str, tuple[str, str]] = {
    "mnist1d": (f"{_SOURCES}.embedded:load_mnist1d",
                "MNIST-1D (Greydanus 2020): 10-class 1-D signals, generated offline; 4000 train / 1000 test "
                "of length 40"),
    "digits": (f"{_SOURCES}.embedded:load_digits",
               "scikit-learn's bundled 8x8 handwritten digits, 10 classes; 1437 train / 360 test"),
    "mnist": (f"{_SOURCES}.keras_datasets:load_mnist",
              "MNIST handwritten digits via keras.datasets (28x28x1, 60000/10000)"),
    "fashion_mnist": (f"{_SOURCES}.keras_datasets:load_fashion_mnist",
                      "Fashion-MNIST via keras.datasets (28x28x1, 60000/10000)"),
    "cifar10": (f"{_SOURCES}.keras_datasets:load_cifar10", "CIFAR-10 via keras.datasets (32x32x3, 50000/10000)"),
    "cifar100": (f"{_SOURCES}.keras_datasets:load_cifar100",
                 "CIFAR-100 via keras.datasets (32x32x3, 50000/10000)"),
    "npz:PATH": (f"{_SOURCES}.files:load_npz",
                 "arrays x_train, y_train, x_test, y_test in a .npz file (classification or regression)"),
    "csv:PATH": (f"{_SOURCES}.files:load_csv",
                 "a CSV file with a header row and a label column; numeric features"),
    "folder:PATH": (f"{_SOURCES}.files:load_folder",
                    "image folders, one sub-folder per class (optionally under train/ and test/)"),
}

_CACHE_FORMAT = 1
"""Version of the cache files' layout; part of every cache key."""


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
    return DATASETS.register(name, description=description, prefix=_is_prefix(name))


def _is_prefix(name: str) -> bool:
    return name.upper().endswith(PATH_SUFFIX)


PATH_KINDS = {"npz:PATH": "file", "csv:PATH": "file", "folder:PATH": "folder"}

for _name, (_target, _description) in _BUILTIN.items():
    DATASETS.register(_name, _target, description=_description, prefix=_is_prefix(_name), path=PATH_KINDS.get(_name))


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


def cache_path(kind: str, options: dict[str, Any]) -> Path:
    """``cache_dir()/datasets/<kind>-<hash>.npz``: where the arrays generated with ``options`` are cached.

    The hash covers ``options`` (include the generator's version in them) and
    the cache layout version, so a change of either misses the cache.
    """
    text = json.dumps({**options, "format": _CACHE_FORMAT}, sort_keys=True, default=str)
    return cache_dir() / "datasets" / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:12]}.npz"


def read_cache(path: Path, keys: tuple[str, ...]) -> dict[str, np.ndarray] | None:
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


def write_cache(path: Path, arrays: dict[str, np.ndarray]) -> bool:
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


def existing_path(path: str, kind: str) -> Path:
    """``path`` as a ``Path`` if it is an existing ``kind`` (``"file"`` or ``"folder"``), else ``DataError``
    naming it (relative paths start at the working directory)."""
    p = Path(path).expanduser()
    if not p.exists():
        hint = None if p.is_absolute() else f"relative paths start at {os.getcwd()}"
        raise DataError(f"{'image folder' if kind == 'folder' else 'file'} not found", file=path, hint=hint)
    if kind == "file" and not p.is_file():
        raise DataError("not a file", file=path, expected="a file", received="a directory")
    if kind == "folder" and not p.is_dir():
        raise DataError("not a folder", file=path, expected="a folder of class sub-folders", received="a file")
    return p


def check_dataset_path(entry: Entry[Loader], path: str) -> None:
    """Raise ``DataError`` if the path of a built-in prefix form (``npz:PATH``...) is missing: recipes check
    it when validated, before anything heavy runs. Loaders registered by users check their own paths."""
    kind = entry.meta.get("path")
    if kind is not None:
        existing_path(path, kind)


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
            if (labels.ndim == 1 and np.issubdtype(labels.dtype, np.number)
                    and (labels.min() < 0 or labels.max() >= ds.num_classes)):
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


__all__ = [
    "DATASETS",
    "TEST_SPLIT_SEED",
    "cache_dir",
    "cache_path",
    "check_dataset_path",
    "check_usable",
    "existing_path",
    "load_dataset",
    "read_cache",
    "register_dataset",
    "resolve_dataset",
    "write_cache",
]
