"""PNG plots of a run: learning curves, learning rate, confusion matrix."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np

from kerastricks import io as kio


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    plt = _pyplot()
    with kio.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100, format="png")
    plt.close(fig)


def learning_curves(rows: Sequence[dict[str, Any]], path: str | Path, title: str = "") -> None:
    """Loss and the other metrics, train and validation, per epoch."""
    plt = _pyplot()
    metrics = [k for k in rows[0] if not k.startswith("val_") and k not in
               ("epoch", "learning_rate", "train_time_s", "epoch_time_s", "elapsed_s")]
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.5 * len(metrics), 3.4), squeeze=False,
                             layout="tight")
    epochs = [r["epoch"] for r in rows]
    for ax, metric in zip(axes[0], metrics):
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
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 3.2), layout="tight")
    ax.plot(steps, rates)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("learning rate")
    ax.grid(alpha=0.3)
    _save(fig, Path(path))


def confusion_matrix_plot(matrix: np.ndarray, class_names: Sequence[str], path: str | Path) -> None:
    plt = _pyplot()
    matrix = np.asarray(matrix)
    n = len(class_names)
    size = min(12.0, 2.0 + 0.45 * n)
    fig, ax = plt.subplots(figsize=(size, size * 0.9), layout="tight")
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
