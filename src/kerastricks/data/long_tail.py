"""Long-tailed training sets and the class counts long-tail methods need.

:func:`make_long_tailed` keeps an exponentially decaying number of examples
per class, the construction of CIFAR-10-LT / CIFAR-100-LT (Cui et al. 2019,
Cao et al. 2019): with ``C`` classes, the largest kept count ``n_max`` and
imbalance ratio ``rho = n_max / n_min``, class ``i`` keeps

    n_i = floor(n_max * rho ** (-i / (C - 1)))

examples, so class 0 is the head and class ``C - 1`` the tail. Only the
training split is made long-tailed; test sets stay balanced, and
:func:`~kerastricks.data.load_dataset` takes the validation split *before*
the long tail is cut, so validation stays balanced too (as the validation
sets of ImageNet-LT and Places-LT are, Liu et al. 2019).
"""

from __future__ import annotations

import numpy as np

from kerastricks.errors import ConfigError, DataError, check_arg


def long_tail_counts(n_max: int, num_classes: int, imbalance_ratio: float) -> np.ndarray:
    """Per-class counts ``floor(n_max * ratio ** (-i / (C - 1)))``, head first.

    Args:
        n_max: Count of the head class (class 0), >= 1.
        num_classes: Number of classes ``C``, >= 2.
        imbalance_ratio: ``n_max / n_min``, >= 1 (1 keeps every class at ``n_max``).

    Returns:
        An ``int64`` array of length ``C``, non-increasing, every entry >= 1.

    Example:
        >>> long_tail_counts(500, 10, 100).tolist()
        [500, 299, 179, 107, 64, 38, 23, 13, 8, 5]
    """
    check_arg(int(n_max) >= 1, "n_max", ">= 1", n_max)
    check_arg(int(num_classes) >= 2, "num_classes", ">= 2", num_classes)
    check_arg(float(imbalance_ratio) >= 1, "imbalance_ratio", ">= 1", imbalance_ratio)
    i = np.arange(num_classes, dtype=np.float64)
    counts = np.floor(n_max * float(imbalance_ratio) ** (-i / (num_classes - 1)) + 1e-9).astype(np.int64)
    return np.maximum(counts, 1)


def class_counts(y: np.ndarray, num_classes: int | None = None) -> np.ndarray:
    """Examples per class of integer (or one-hot) labels ``y``.

    Args:
        y: Integer labels of shape ``(N,)``/``(N, 1)``, or one-hot ``(N, C)``.
        num_classes: ``C``; default ``max(y) + 1`` (or the one-hot width).

    Returns:
        An ``int64`` array of length ``C``.
    """
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        num_classes = num_classes or y.shape[1]
        y = np.argmax(y, axis=1)
    y = y.reshape(-1).astype(np.int64)
    if num_classes is None:
        num_classes = int(y.max()) + 1 if len(y) else 0
    return np.bincount(y, minlength=int(num_classes)).astype(np.int64)


def make_long_tailed(
    x: np.ndarray,
    y: np.ndarray,
    imbalance_ratio: float,
    seed: int = 0,
    *,
    n_max: int | None = None,
    num_classes: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """A long-tailed subset of ``(x, y)``: class ``i`` keeps ``n_max * ratio^(-i/(C-1))`` examples.

    Which examples of a class are kept is drawn at random (seeded); kept
    examples keep their original relative order.

    Args:
        x: Inputs, shape ``(N, ...)``.
        y: Integer class labels, shape ``(N,)``.
        imbalance_ratio: ``n_max / n_min`` >= 1 (CIFAR-LT uses 10, 50, 100).
        seed: Seed of the choice of examples.
        n_max: Examples kept of the head class; default: the smallest class
            count available, so every class can supply its share.
        num_classes: ``C``; default ``max(y) + 1``.

    Returns:
        ``(x_lt, y_lt)``.

    Raises:
        DataError: a class has no examples, or fewer than its share.

    Example:
        >>> x_lt, y_lt = make_long_tailed(x_train, y_train, imbalance_ratio=100, seed=0)
        >>> np.bincount(y_lt)
    """
    x = np.asarray(x)
    y = np.asarray(y).reshape(-1)
    if len(x) != len(y):
        raise DataError(f"x has {len(x)} rows but y has {len(y)}")
    if not np.issubdtype(y.dtype, np.integer):
        raise DataError("long-tailed data needs integer class labels", received=str(y.dtype))
    available = class_counts(y, num_classes)
    empty = np.flatnonzero(available == 0)
    if len(empty):
        raise DataError(
            "cannot make long-tailed data: some classes have no examples",
            expected="at least one example per class",
            received=f"0 examples of class {', '.join(map(str, empty[:10]))}",
        )
    if n_max is None:
        n_max = int(available.min())
    check_arg(int(n_max) >= 1, "n_max", ">= 1", n_max)
    wanted = long_tail_counts(int(n_max), len(available), imbalance_ratio)
    short = np.flatnonzero(available < wanted)
    if len(short):
        c = int(short[0])
        raise DataError(
            f"class {c} has {available[c]} examples but the long tail needs {wanted[c]}",
            hint="lower n_max",
        )
    rng = np.random.default_rng(seed)
    keep = np.concatenate([rng.choice(np.flatnonzero(y == c), size=int(wanted[c]), replace=False)
                           for c in range(len(wanted))])
    keep.sort()
    return x[keep], y[keep]


def check_class_counts(counts, num_classes: int | None = None, *, name: str = "class_counts") -> np.ndarray:
    """``counts`` as a float64 array, checked: 1-D, >= 2 classes, all > 0, length ``num_classes``.

    Raises:
        ConfigError: in Keras's words, naming the argument.
    """
    arr = np.asarray(counts, dtype=np.float64)
    if arr.ndim != 1 or len(arr) < 2:
        raise ConfigError(f"Argument `{name}` must be a 1-D list of at least 2 class counts. "
                          f"Received: {name}={counts!r}")
    if num_classes is not None and len(arr) != int(num_classes):
        raise ConfigError(f"Argument `{name}` must have one count per class ({num_classes} classes). "
                          f"Received: {len(arr)} counts")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        zero = np.flatnonzero(~(arr > 0))
        raise ConfigError(
            f"Argument `{name}` must be > 0 for every class (a class without training examples "
            f"cannot be re-balanced). Received: {name}[{int(zero[0])}]={arr[zero[0]]!r}"
        )
    return arr


__all__ = ["check_class_counts", "class_counts", "long_tail_counts", "make_long_tailed"]
