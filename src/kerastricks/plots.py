"""PNG plots of a run: learning curves, learning rate, confusion matrix.

Uses matplotlib's object API (``Figure`` + the Agg canvas), never ``pyplot``:
no global state, no GUI backend, safe to call from any thread. Layout is set
by hand because matplotlib's automatic tight layout costs an extra full draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kerastricks import io as kio

#: Per-epoch columns of ``metrics.csv`` that are not metrics.
NON_METRICS = ("epoch", "learning_rate", "train_time_s", "train_cpu_s", "epoch_time_s", "elapsed_s", "phase",
               "unfrozen_blocks")


def preload() -> None:
    """Import matplotlib ahead of time (the trainer does it while the model trains)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: F401
    from matplotlib.figure import Figure  # noqa: F401


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100)


def _save(fig, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    with kio.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")


def learning_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Loss and the other metrics, train and validation, per epoch (one panel each)."""
    metrics = [k for k in rows[0] if not k.startswith("val_") and k not in NON_METRICS]
    fig = _figure(4.5 * len(metrics), 3.4)
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    fig.subplots_adjust(left=0.08 if len(metrics) > 1 else 0.15, right=0.98, bottom=0.15,
                        top=0.88 if title else 0.95, wspace=0.3)
    epochs = [r["epoch"] for r in rows]
    for ax, metric in zip(axes, metrics):
        ax.plot(epochs, [r.get(metric, np.nan) for r in rows], label="train")
        if any(f"val_{metric}" in r for r in rows):
            ax.plot(epochs, [r.get(f"val_{metric}", np.nan) for r in rows], label="validation")
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    if title:
        fig.suptitle(title)
    _save(fig, Path(path))


def learning_rate_curve(steps: np.ndarray, rates: np.ndarray, path: str | Path) -> None:
    """The learning rate against optimizer steps."""
    fig = _figure(5, 3.2)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.17, right=0.97, bottom=0.16, top=0.95)
    ax.plot(steps, rates)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.grid(alpha=0.3)
    _save(fig, Path(path))


def confusion_matrix_plot(matrix: np.ndarray, class_names: Sequence[str], path: str | Path) -> None:
    """Counts of (true, predicted) classes; cell values written for up to 30 classes."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    size = min(12.0, 2.5 + 0.45 * n)
    fig = _figure(size, size * 0.9)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.14, right=0.97, bottom=0.14, top=0.92)
    ax.imshow(matrix, cmap="Blues")
    if n <= 30:
        ax.set_xticks(range(n), labels=class_names, rotation=90 if n > 10 else 0)
        ax.set_yticks(range(n), labels=class_names)
        limit = matrix.max() / 2 if matrix.size else 0
        for i in range(n):
            for j in range(n):
                ax.text(j, i, int(matrix[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if matrix[i, j] > limit else "black")
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title("test confusion matrix")
    _save(fig, Path(path))


def per_class_accuracy_plot(recall: Sequence[float], train_counts: Sequence[int], class_names: Sequence[str],
                            path: str | Path) -> None:
    """Test accuracy (recall) of each class, classes ordered by training count (head first).

    Bars show the accuracy; the line on the right axis the training count
    (log scale), so the fall of accuracy towards the tail is visible.
    """
    recall = np.asarray(recall, dtype=np.float64)
    counts = np.asarray(train_counts, dtype=np.float64)
    order = np.argsort(-counts, kind="stable")
    n = len(order)
    fig = _figure(min(14.0, 3.0 + 0.35 * n), 3.6)
    ax = fig.subplots()
    fig.subplots_adjust(left=0.1, right=0.88, bottom=0.2, top=0.9)
    pos = np.arange(n)
    ax.bar(pos, recall[order], color="tab:blue", alpha=0.8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("test accuracy")
    ax.set_xlabel("class (ordered by training examples)")
    if n <= 40:
        ax.set_xticks(pos, labels=[class_names[i] for i in order], rotation=90 if n > 10 else 0)
    ax.grid(alpha=0.3, axis="y")
    twin = ax.twinx()
    twin.plot(pos, np.maximum(counts[order], 1), color="tab:orange", marker="o", markersize=3)
    twin.set_yscale("log")
    twin.set_ylabel("training examples", color="tab:orange")
    ax.set_title("per-class test accuracy by class frequency")
    _save(fig, Path(path))
