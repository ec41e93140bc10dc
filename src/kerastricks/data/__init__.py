"""Data: datasets by name, splits, normalization and the ``tf.data`` pipeline.

>>> from kerastricks.data import load_dataset, make_tf_dataset
>>> ds = load_dataset("mnist1d", validation_split=0.1)
>>> train = make_tf_dataset(ds.x_train, ds.y_train, batch_size=64, shuffle=True, seed=0)

Dataset loading, splitting and the registries need only NumPy (the loaders in
:mod:`kerastricks.data.sources` are imported when a dataset is first used); the pipeline
(:func:`make_tf_dataset`, :func:`echo`, :class:`ClassResampler`) needs TensorFlow
and is imported on first access.
"""

from kerastricks._lazy import lazy_exports
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
    load_dataset,
    register_dataset,
    resolve_dataset,
)
from kerastricks.data.long_tail import class_counts, long_tail_counts, make_long_tailed

_EXPORTS = {
    "AUGMENTATIONS": "kerastricks.data.augment:AUGMENTATIONS",
    "build_augmentation": "kerastricks.data.augment:build_augmentation",
    "echo": "kerastricks.data.echo:echo",
    "keras_datasets_dir": "kerastricks.data.sources.keras_datasets:keras_datasets_dir",
    "PIPELINE_STAGES": "kerastricks.data.pipeline:PIPELINE_STAGES",
    "make_tf_dataset": "kerastricks.data.pipeline:make_tf_dataset",
    "steps_per_epoch": "kerastricks.data.pipeline:steps_per_epoch",
    "ClassResampler": "kerastricks.data.resampling:ClassResampler",
    "sampling_probabilities": "kerastricks.data.resampling:sampling_probabilities",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "DATASETS",
    "NORMALIZE_METHODS",
    "TEST_SPLIT_SEED",
    "Dataset",
    "cache_dir",
    "class_counts",
    "keras_datasets_dir",
    "load_dataset",
    "long_tail_counts",
    "make_long_tailed",
    "normalization_stats",
    "normalize",
    "register_dataset",
    "resolve_dataset",
    "split_indices",
    "split_validation",
    *_EXPORTS,
]
