"""The in-memory :class:`Dataset` and the pure functions that prepare it.

Every loader registered in :mod:`kerastricks.data.datasets` returns a :class:`Dataset` of
numpy arrays; :func:`split_validation` and :func:`normalize` then turn it into
what training consumes. All math is plain numpy, so each step is tested
against numpy written in the tests.

Conventions kept by every :class:`Dataset`:

- ``x`` arrays are ``float32``, one sample per row, channels last.
- classification ``y`` arrays are 1-D ``int32`` labels in ``0 .. num_classes-1``.
- regression ``y`` arrays are ``float32``, shape ``(N,)`` or ``(N, k)``.
- ``meta`` is JSON-serializable (it goes into the run report).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from kerastricks.errors import ConfigError, DataError

Task = Literal["classification", "regression"]
NORMALIZE_METHODS = ("auto", "standard", "minmax", "scale255", "none")


@dataclass
class Dataset:
    """A dataset held in memory as numpy arrays, with its metadata.

    Arrays are coerced on construction (``x`` to ``float32``; ``y`` to ``int32``
    labels for classification, ``float32`` for regression) and checked for
    consistent lengths and, for classification, labels in range. A problem
    raises :class:`~kerastricks.errors.DataError` naming the dataset.

    Args:
        name: Name the dataset was loaded under (``"mnist1d"``, ``"npz:data.npz"``).
        x_train: Training inputs, shape ``(N, *input_shape)``.
        y_train: Training targets.
        x_val: Validation inputs, or ``None`` when there is no validation split.
        y_val: Validation targets, or ``None``.
        x_test: Test inputs.
        y_test: Test targets.
        task: ``"classification"`` or ``"regression"``.
        num_classes: Number of classes; ``None`` for regression.
        class_names: One name per class (``None`` for regression, or unknown).
        meta: JSON-serializable facts about the data: ``source``, cache path,
            ``default_normalize`` (the method ``normalize="auto"`` picks),
            ``normalization`` (what was applied), splits.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray | None
    y_val: np.ndarray | None
    x_test: np.ndarray
    y_test: np.ndarray
    task: Task
    num_classes: int | None
    class_names: list[str] | None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in ("classification", "regression"):
            raise DataError(
                f"dataset '{self.name}': unknown task",
                expected="'classification' or 'regression'",
                received=self.task,
            )
        if (self.x_val is None) != (self.y_val is None):
            raise DataError(f"dataset '{self.name}': x_val and y_val must both be given or both be None")
        for split in ("train", "val", "test"):
            x = getattr(self, f"x_{split}")
            y = getattr(self, f"y_{split}")
            if x is None:
                continue
            x = np.asarray(x)
            y = np.asarray(y)
            if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
                raise DataError(
                    f"dataset '{self.name}': x_{split} has {_rows(x)} rows but y_{split} has {_rows(y)}"
                )
            setattr(self, f"x_{split}", x.astype(np.float32, copy=False))
            setattr(self, f"y_{split}", self._coerce_targets(y, split))
        if self.task == "classification":
            if self.num_classes is None:
                self.num_classes = int(self.y_train.max()) + 1 if len(self.y_train) else 0
            self.num_classes = int(self.num_classes)
            for split in ("train", "val", "test"):
                y = getattr(self, f"y_{split}")
                if y is not None and len(y) and (y.min() < 0 or y.max() >= self.num_classes):
                    raise DataError(
                        f"dataset '{self.name}': y_{split} has labels outside 0..{self.num_classes - 1}",
                        received=f"labels {int(y.min())}..{int(y.max())}",
                    )
            if self.class_names is not None and len(self.class_names) != self.num_classes:
                raise DataError(
                    f"dataset '{self.name}': {len(self.class_names)} class names "
                    f"for {self.num_classes} classes"
                )
        else:
            self.num_classes = None

    def _coerce_targets(self, y: np.ndarray, split: str) -> np.ndarray:
        if self.task == "regression":
            return y.astype(np.float32, copy=False)
        if y.ndim != 1:
            raise DataError(
                f"dataset '{self.name}': classification y_{split} must be 1-D integer labels",
                received=f"shape {tuple(y.shape)}",
            )
        if (not np.issubdtype(y.dtype, np.integer) and not np.issubdtype(y.dtype, np.bool_)
                and (not np.all(np.isfinite(y)) or not np.all(np.equal(np.mod(y, 1), 0)))):
                raise DataError(
                    f"dataset '{self.name}': classification y_{split} holds non-integer labels"
                )
        return y.astype(np.int32, copy=False)

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one input sample: ``x_train.shape[1:]``."""
        return tuple(int(d) for d in self.x_train.shape[1:])

    @property
    def output_dim(self) -> int:
        """Width of the model output: ``num_classes``, or the regression target width."""
        if self.task == "classification":
            return int(self.num_classes)
        return 1 if self.y_train.ndim == 1 else int(np.prod(self.y_train.shape[1:]))

    @property
    def n_train(self) -> int:
        return len(self.x_train)

    @property
    def n_val(self) -> int:
        return 0 if self.x_val is None else len(self.x_val)

    @property
    def n_test(self) -> int:
        return len(self.x_test)

    def class_counts(self) -> np.ndarray:
        """Number of training samples per class, shape ``(num_classes,)``.

        Raises:
            DataError: for a regression dataset.
        """
        if self.task != "classification":
            raise DataError(f"dataset '{self.name}' is a regression dataset and has no classes")
        return np.bincount(self.y_train, minlength=self.num_classes).astype(np.int64)

    def summary(self) -> dict[str, Any]:
        """A JSON-serializable description for logs and run reports."""
        return {
            "name": self.name,
            "task": self.task,
            "n_train": self.n_train,
            "n_val": self.n_val,
            "n_test": self.n_test,
            "input_shape": list(self.input_shape),
            "num_classes": self.num_classes,
            "output_dim": self.output_dim,
        }


def ensure_channel_axis(x: np.ndarray) -> np.ndarray:
    """``(N, H, W)`` images -> ``(N, H, W, 1)``; other shapes unchanged."""
    return x[..., None] if x.ndim == 3 else x


def _rows(a: np.ndarray) -> int | str:
    return len(a) if a.ndim else "no"


def _validation_size(n: int, fraction: float) -> int:
    # ceil like scikit-learn's train_test_split; the epsilon keeps 0.1 * 30 at 3.
    return max(1, math.ceil(fraction * n - 1e-9))


def split_indices(
    y: np.ndarray, fraction: float, seed: int, stratify: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Indices of a deterministic (optionally stratified) hold-out split.

    The hold-out size is ``ceil(fraction * n)`` (at least 1), as in
    scikit-learn's ``train_test_split``. With ``stratify`` and 1-D integer
    labels, each class gives ``fraction`` of its samples (rounded by largest
    remainder so the total is exact); otherwise samples are drawn uniformly.

    Args:
        y: Targets, one per sample; only their length (and labels, when
            stratifying) are used.
        fraction: Share held out, in ``(0, 1)``.
        seed: Seed of the permutation; the same seed gives the same split.
        stratify: Keep class proportions (classification labels only).

    Returns:
        ``(keep, held_out)``: sorted, disjoint index arrays that cover ``0..n-1``.
    """
    y = np.asarray(y)
    n = len(y)
    n_out = _validation_size(n, fraction)
    if n_out >= n:
        raise DataError(
            f"cannot hold out {fraction:g} of {n} samples and keep any for training",
            expected="more samples or a smaller fraction",
            received=f"{n} samples",
        )
    rng = np.random.default_rng(seed)
    if stratify and y.ndim == 1 and np.issubdtype(y.dtype, np.integer):
        classes, inverse = np.unique(y, return_inverse=True)
        counts = np.bincount(inverse, minlength=len(classes))
        quota = counts * (n_out / n)
        take = np.floor(quota).astype(np.int64)
        short = n_out - int(take.sum())
        if short > 0:
            # Largest remainder first; ties broken by a seeded random order.
            order = np.lexsort((rng.permutation(len(classes)), -(quota - take)))
            take[order[:short]] += 1
        held = [rng.permutation(np.flatnonzero(inverse == c))[:k] for c, k in enumerate(take)]
        held_out = np.concatenate(held) if held else np.empty(0, np.int64)
    else:
        held_out = rng.permutation(n)[:n_out]
    mask = np.zeros(n, dtype=bool)
    mask[held_out] = True
    return np.flatnonzero(~mask), np.flatnonzero(mask)


def split_validation(
    x: np.ndarray,
    y: np.ndarray,
    fraction: float,
    seed: int,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Split a validation set off ``(x, y)``, deterministically.

    Args:
        x: Inputs, shape ``(N, ...)``.
        y: Targets, length ``N``.
        fraction: Share of samples for validation, in ``[0, 1)``; ``0`` means no
            validation set. The size is ``ceil(fraction * N)``.
        seed: Seed of the split; equal seeds give equal splits.
        stratify: Keep class proportions when ``y`` holds integer labels
            (ignored for float regression targets).

    Returns:
        ``(x_train, y_train, x_val, y_val)``; the last two are ``None`` when
        ``fraction == 0``. Samples keep their original relative order.

    Example:
        >>> x, y = np.zeros((10, 2)), np.array([0, 1] * 5)
        >>> [len(a) for a in split_validation(x, y, 0.2, seed=0)]
        [8, 8, 2, 2]
    """
    if not 0 <= fraction < 1:
        raise ConfigError(
            "validation fraction out of range",
            key="data.validation_split",
            expected="a value >= 0 and < 1",
            received=fraction,
        )
    if len(x) != len(y):
        raise DataError(f"x has {len(x)} rows but y has {len(y)}")
    if fraction == 0:
        return x, y, None, None
    keep, held = split_indices(y, fraction, seed, stratify)
    return x[keep], y[keep], x[held], y[held]


def _unknown_method(method: Any) -> ConfigError:
    return ConfigError(
        "unknown normalization",
        key="data.normalize",
        expected=f"one of {', '.join(NORMALIZE_METHODS)}",
        received=method,
    )


def _raw_stats(x_train: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, spread)`` in float64, before zero spreads are replaced by 1."""
    if method == "standard":  # float64 accumulation, no float64 copy of the data
        return np.mean(x_train, axis=0, dtype=np.float64), np.std(x_train, axis=0, dtype=np.float64)
    if method == "minmax":
        low = np.min(x_train, axis=0).astype(np.float64)
        return low, np.max(x_train, axis=0).astype(np.float64) - low
    if method == "scale255":
        return np.float64(0.0), np.float64(255.0)
    if method == "none":
        return np.float64(0.0), np.float64(1.0)
    raise _unknown_method(method)


def normalization_stats(x_train: np.ndarray, method: str) -> tuple[np.ndarray, np.ndarray]:
    """``(shift, scale)`` such that the normalized input is ``(x - shift) / scale``.

    Statistics are per feature (over the sample axis only), computed in
    float64 and returned as float32 arrays of shape ``x_train.shape[1:]``
    (scalars for ``"scale255"`` and ``"none"``).

    Args:
        x_train: Training inputs; the only data statistics are taken from.
        method: ``"standard"`` (mean, std; std 0 -> 1), ``"minmax"`` (min,
            max - min; range 0 -> 1), ``"scale255"`` (0, 255) or ``"none"`` (0, 1).
    """
    shift, spread = _raw_stats(x_train, method)
    scale = np.where(spread > 0, spread, 1.0)
    return np.asarray(shift, np.float32), np.asarray(scale, np.float32)


def _stats_summary(a: np.ndarray) -> list[float]:
    return [float(np.min(a)), float(np.max(a))]


def normalize(ds: Dataset, method: str = "auto") -> Dataset:
    """Normalize the inputs of every split with statistics from the training split.

    Targets are left unchanged. The returned dataset records what was done in
    ``meta["normalization"]``: the method, and for ``standard`` / ``minmax``
    the range over features of each statistic and how many features were
    constant (whose scale was set to 1).

    Args:
        ds: The dataset; not modified.
        method: ``"auto"`` (the loader's ``meta["default_normalize"]``, else
            ``"none"``), ``"standard"`` (per-feature ``(x - mean) / std``),
            ``"minmax"`` (per-feature to ``[0, 1]`` on the training split),
            ``"scale255"`` (``x / 255``) or ``"none"``.

    Returns:
        A new :class:`Dataset` with normalized ``float32`` inputs.

    Example:
        >>> ds = normalize(ds, "standard")   # train mean 0, std 1 per feature
    """
    requested = str(method).lower()
    if requested not in NORMALIZE_METHODS:
        raise _unknown_method(method)
    resolved = ds.meta.get("default_normalize", "none") if requested == "auto" else requested
    shift, spread = _raw_stats(ds.x_train, resolved)
    scale = np.asarray(np.where(spread > 0, spread, 1.0), np.float32)
    shift = np.asarray(shift, np.float32)

    def apply(x: np.ndarray | None) -> np.ndarray | None:
        if x is None or resolved == "none":
            return x
        return ((x - shift) / scale).astype(np.float32, copy=False)

    record: dict[str, Any] = {"method": resolved, "requested": requested}
    if resolved == "standard":
        record.update(mean_range=_stats_summary(shift), std_range=_stats_summary(scale))
    elif resolved == "minmax":
        record.update(min_range=_stats_summary(shift), range_range=_stats_summary(scale))
    if resolved in ("standard", "minmax"):
        record["constant_features"] = int(np.count_nonzero(spread == 0))
    meta = {**ds.meta, "normalization": record}
    return dataclasses.replace(
        ds,
        x_train=apply(ds.x_train),
        x_val=apply(ds.x_val),
        x_test=apply(ds.x_test),
        meta=meta,
    )


__all__ = [
    "NORMALIZE_METHODS",
    "Dataset",
    "normalization_stats",
    "normalize",
    "split_indices",
    "split_validation",
]
