"""Data: datasets by name, splits, normalization and the ``tf.data`` pipeline.

>>> from kerastricks.data import load_dataset, make_tf_dataset
>>> ds = load_dataset("mnist1d", validation_split=0.1)
>>> train = make_tf_dataset(ds.x_train, ds.y_train, batch_size=64, shuffle=True, seed=0)
"""

from kerastricks.data.augment import AUGMENTATIONS, build_augmentation
from kerastricks.data.base import (
    NORMALIZE_METHODS,
    Dataset,
    normalization_stats,
    normalize,
    split_indices,
    split_validation,
)
from kerastricks.data.datasets import (
    DATASETS,
    TEST_SPLIT_SEED,
    cache_dir,
    keras_datasets_dir,
    load_dataset,
    register_dataset,
    resolve_dataset,
)
from kerastricks.data.echo import echo
from kerastricks.data.long_tail import class_counts, long_tail_counts, make_long_tailed
from kerastricks.data.pipeline import PIPELINE_STAGES, make_tf_dataset, steps_per_epoch
from kerastricks.data.resampling import ClassResampler, sampling_probabilities

__all__ = [
    "AUGMENTATIONS",
    "ClassResampler",
    "DATASETS",
    "NORMALIZE_METHODS",
    "PIPELINE_STAGES",
    "TEST_SPLIT_SEED",
    "Dataset",
    "build_augmentation",
    "cache_dir",
    "class_counts",
    "echo",
    "keras_datasets_dir",
    "load_dataset",
    "long_tail_counts",
    "make_long_tailed",
    "make_tf_dataset",
    "normalization_stats",
    "normalize",
    "register_dataset",
    "resolve_dataset",
    "sampling_probabilities",
    "split_indices",
    "split_validation",
    "steps_per_epoch",
]
