"""Test-set metrics for the run report: accuracy, macro-F1, per-class scores.

With the training set's examples per class (``train_counts``), the report
also gives each class's training count, the imbalance ratio ``max / min``
and, when the training data are long-tailed (ratio >= :data:`LONG_TAIL_RATIO`),
many-, medium- and few-shot accuracy: the mean test recall of the classes
with many (``n > n_max / 5``), medium (``n_max / 25 <= n <= n_max / 5``) and
few (``n < n_max / 25``) training examples. These are the usual thresholds
100 and 20 of ImageNet-LT / CIFAR-100-LT (Liu et al. 2019, arXiv 1904.05160),
written relative to CIFAR-100-LT's head count ``n_max = 500`` so they scale
with the dataset.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """``C[i, j]`` = number of examples of true class ``i`` predicted as ``j``."""
    y_true = np.asarray(y_true, dtype=np.int64).reshape(-1)
    y_pred = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    return np.bincount(y_true * num_classes + y_pred, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


#: Training imbalance ratio (max / min class count) from which shot groups are reported.
LONG_TAIL_RATIO = 10.0
#: Many-shot classes have more than ``n_max / MANY_DIVISOR`` training examples.
MANY_DIVISOR = 5.0
#: Few-shot classes have fewer than ``n_max / FEW_DIVISOR`` training examples.
FEW_DIVISOR = 25.0


def shot_groups(train_counts) -> dict[str, list[int]]:
    """Class indices of the many-, medium- and few-shot groups (thresholds scaled by ``n_max``).

    Example:
        >>> shot_groups([500, 150, 100, 20, 19])
        {'many': [0, 1], 'medium': [2, 3], 'few': [4]}
    """
    n = np.asarray(train_counts, dtype=np.float64)
    n_max = n.max()
    many = n > n_max / MANY_DIVISOR
    few = n < n_max / FEW_DIVISOR
    return {
        "many": np.flatnonzero(many).tolist(),
        "medium": np.flatnonzero(~many & ~few).tolist(),
        "few": np.flatnonzero(few).tolist(),
    }


def imbalance_ratio(train_counts) -> float:
    """``max / min`` of the class counts (``inf`` if a class has none)."""
    n = np.asarray(train_counts, dtype=np.float64)
    return float(n.max() / n.min()) if n.min() > 0 else float("inf")


def shot_metrics(recall: np.ndarray, train_counts) -> dict[str, Any]:
    """Mean test recall of each shot group (``None`` for an empty group), thresholds and groups."""
    groups = shot_groups(train_counts)
    n_max = float(np.max(train_counts))
    out: dict[str, Any] = {
        f"{g}_shot_accuracy": (float(np.mean(np.asarray(recall)[idx])) if idx else None)
        for g, idx in groups.items()
    }
    out["thresholds"] = {"many_above": n_max / MANY_DIVISOR, "few_below": n_max / FEW_DIVISOR}
    out["groups"] = groups
    return out


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int,
                           class_names: list[str] | None = None, train_counts=None) -> dict[str, Any]:
    """Accuracy, balanced accuracy, macro-F1 and per-class precision/recall/F1/support.

    A class that is never predicted has precision 0; a class absent from
    ``y_true`` has recall 0 and is left out of the macro averages' support-
    weighted counterparts only (macro averages include every class, as in
    scikit-learn with ``zero_division=0``).

    ``train_counts`` (examples per class in the training data) adds
    ``train_count`` per class, ``train_imbalance_ratio`` and, on long-tailed
    training data, ``shots`` (see :func:`shot_metrics`).
    """
    cm = confusion_matrix(y_true, y_pred, num_classes)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1).astype(np.float64)
    predicted = cm.sum(axis=0).astype(np.float64)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    names = class_names or [str(i) for i in range(num_classes)]
    result = {
        "accuracy": float(tp.sum() / max(1.0, support.sum())),
        "balanced_accuracy": float(recall[present].mean()) if present.any() else 0.0,
        "macro_f1": float(f1.mean()),
        "per_class": [
            {
                "class": names[i],
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i in range(num_classes)
        ],
        "confusion_matrix": cm.tolist(),
    }
    if train_counts is not None:
        counts = np.asarray(train_counts, dtype=np.int64).reshape(-1)
        if len(counts) != num_classes:
            raise ValueError(f"Argument `train_counts` must have one count per class ({num_classes}). "
                             f"Received: {len(counts)} counts")
        for i, row in enumerate(result["per_class"]):
            row["train_count"] = int(counts[i])
        ratio = imbalance_ratio(counts)
        result["train_imbalance_ratio"] = ratio
        if ratio >= LONG_TAIL_RATIO:
            result["shots"] = shot_metrics(recall, counts)
    return result


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, Any]:
    """MAE, MSE, RMSE and R^2 (over all outputs)."""
    y_true = np.asarray(y_true, dtype=np.float64).reshape(len(y_true), -1)
    y_pred = np.asarray(y_pred, dtype=np.float64).reshape(len(y_pred), -1)
    err = y_pred - y_true
    mse = float(np.mean(err**2))
    var = float(np.mean((y_true - y_true.mean(axis=0)) ** 2))
    return {
        "mae": float(np.mean(np.abs(err))),
        "mse": mse,
        "rmse": float(np.sqrt(mse)),
        "r2": float(1.0 - mse / var) if var > 0 else float("nan"),
    }


#: Equal-width confidence bins of the expected calibration error (Guo et al. 2017 use 15).
ECE_BINS = 15


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (stable: the row maximum is subtracted first)."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def expected_calibration_error(probs: np.ndarray, y_true: np.ndarray, bins: int = ECE_BINS) -> float:
    """Expected calibration error (Guo et al. 2017, arXiv 1706.04599).

    Examples are grouped by their top-class confidence ``c = max_k p_k`` into ``bins`` equal-width bins
    ``(i/bins, (i+1)/bins]``; ``ECE = sum_b |B_b|/n * |accuracy(B_b) - mean confidence(B_b)|``. 0 for a
    perfectly calibrated model; a model that is always right with confidence 1 also scores 0.

    Args:
        probs: ``(n, classes)`` predicted probabilities.
        y_true: ``(n,)`` integer labels.
        bins: Number of confidence bins, >= 1.
    """
    if int(bins) < 1:
        raise ValueError(f"Argument `bins` must be >= 1. Received: bins={bins!r}")
    p = np.asarray(probs, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    if len(y) == 0:
        return 0.0
    confidence = p.max(axis=-1)
    correct = (p.argmax(axis=-1) == y).astype(np.float64)
    # bin i holds confidences in (i/bins, (i+1)/bins]; a confidence of exactly 0 goes to bin 0
    index = np.clip(np.ceil(confidence * bins).astype(np.int64) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        members = index == b
        if members.any():
            total += members.sum() / len(y) * abs(correct[members].mean() - confidence[members].mean())
    return float(total)


def negative_log_likelihood(logits: np.ndarray, y_true: np.ndarray) -> float:
    """Mean ``-log softmax(logits)[y]`` (the test cross-entropy, without any label smoothing)."""
    z = np.asarray(logits, dtype=np.float64)
    y = np.asarray(y_true, dtype=np.int64).reshape(-1)
    z = z - z.max(axis=-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(axis=-1, keepdims=True))
    return float(-log_p[np.arange(len(y)), y].mean()) if len(y) else 0.0
