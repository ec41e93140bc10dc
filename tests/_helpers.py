"""Plain helpers shared by several test modules (``pythonpath = ["tests"]`` in pyproject puts this folder on the path;
fixtures stay in the conftest files)."""

from collections import defaultdict
from pathlib import Path

from kerastricks.recipes import recipe_from_dict

#: A recipe that trains in seconds: a one-layer MLP on digits, 3 epochs, a target it reaches.
SMALL = {
    "data": {"name": "digits", "validation_split": 0.2},
    "model": {"name": "mlp", "width": 32, "depth": 1},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "train": {"epochs": 3, "batch_size": 64, "target": {"metric": "val_accuracy", "value": 0.5}},
}


def small(**sections):
    """:data:`SMALL` with each given section's keys replaced (``small(train={"epochs": 6})``), as a Recipe."""
    data = {k: dict(v) if isinstance(v, dict) else v for k, v in SMALL.items()}
    for key, value in sections.items():
        data[key] = {**data.get(key, {}), **value}
    return recipe_from_dict(data, source="small.toml")


def temp_files(run: Path) -> list[Path]:
    """The hidden files left under a run directory (atomic writes' temporaries)."""
    return [p for p in run.rglob(".*") if p.is_file()]


def tensorboard_points(log_dir: Path) -> dict:
    """``(split, tag) -> [(step, value), ...]`` from every event file under ``log_dir``."""
    import tensorflow as tf

    points = defaultdict(list)
    for path in sorted(log_dir.rglob("*tfevents*")):
        for event in tf.compat.v1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                points[(path.parent.name, value.tag)].append((event.step, float(tf.make_ndarray(value.tensor))))
    return {key: sorted(steps) for key, steps in points.items()}
