"""Data echoing technique: same steps per epoch, 1/factor fresh examples, placement around augmentation."""

import numpy as np
import pytest

from kerastricks.data import build_augmentation, make_tf_dataset
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TrainContext, build_technique
from kerastricks.train import Trainer


class Data:
    def __init__(self, n):
        self.x_train = np.tile(np.linspace(-1, 1, 40, dtype="float32")[None, :, None], (n, 1, 1))
        self.x_train += np.arange(n, dtype="float32")[:, None, None]  # example i is centred on i
        self.y_train = np.arange(n)


def pipeline(options, n=32, augment=True):
    technique = build_technique("data_echoing", options)
    recipe = recipe_from_dict({"train": {"batch_size": 8}})
    ctx = TrainContext(recipe=recipe, dataset=Data(n))
    stages = {k: [fn] for k, fn in technique.pipeline_stages(ctx).items()}
    aug = build_augmentation({"name": "mnist1d", "shift": 0, "scale": 0.0, "dilate": 0.0, "shear": 0.0,
                              "noise": 0.1}) if augment else None
    ds = make_tf_dataset(ctx.dataset.x_train, ctx.dataset.y_train, batch_size=8, shuffle=True, seed=0,
                         augment=aug, stages=stages)
    xs, ys = zip(*[(xb, yb) for xb, yb in ds.as_numpy_iterator()])
    return ctx, np.concatenate(xs), np.concatenate(ys)


def copies_identical(x, y):
    """For each label seen twice: are its two copies identical?"""
    out = []
    for label in np.unique(y):
        idx = np.flatnonzero(y == label)
        assert len(idx) == 2
        out.append(np.array_equal(x[idx[0]], x[idx[1]]))
    return out


def test_epoch_keeps_its_length_and_reads_one_over_factor_fresh_examples():
    ctx, x, y = pipeline({"factor": 2})
    assert len(y) == 32 and len(np.unique(y)) == 16  # 32 trained on, 16 fresh, each twice
    assert ctx.fresh_fraction == 0.5
    assert ctx.notes["data_echoing"]["fresh_per_epoch"] == 16


def test_placement_after_augmentation_repeats_identical_copies_before_makes_new_ones():
    _, x, y = pipeline({"factor": 2, "placement": "after_augmentation"})
    assert all(copies_identical(x, y))
    _, x, y = pipeline({"factor": 2, "placement": "before_augmentation"})
    assert not any(copies_identical(x, y))  # each copy gets its own noise


def test_batch_level_repeats_whole_batches():
    _, x, y = pipeline({"factor": 2, "level": "batch"}, augment=False)
    batches = y.reshape(-1, 8)
    assert all(np.array_equal(batches[i], batches[i + 1]) for i in range(0, len(batches), 2))
    with pytest.raises(ConfigError, match="placement"):
        recipe_from_dict({"techniques": {"data_echoing": {"level": "batch", "placement": "before_augmentation"}}})


def test_report_counts_fresh_examples_separately():
    recipe = recipe_from_dict({
        "data": {"name": "digits", "validation_split": 0.2},
        "model": {"name": "mlp", "width": 16, "depth": 1},
        "train": {"epochs": 2, "batch_size": 32, "tensorboard": False, "plots": False},
        "techniques": {"data_echoing": {"factor": 3}},
    })
    report = Trainer(recipe, write=False, verbose=0).fit().report
    n = report["examples_trained"] // 2
    assert report["examples_fresh"] == 2 * -(-n // 3)  # ceil(n / 3) fresh per epoch
    assert report["steps_per_epoch"] == -(-n // 32)
