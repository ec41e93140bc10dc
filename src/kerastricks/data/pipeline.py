"""In-memory numpy arrays -> a batched, shuffled ``tf.data`` pipeline.

The pipeline is deliberately short (the trainer-overhead benchmark measures
it): ``from_tensor_slices -> shuffle -> batch -> repeat -> prefetch``. The data
is already in memory, so there is no ``cache()`` step (it would only copy it).
Techniques that transform data (echoing, augmentation) take the returned
dataset and return a new one.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from kerastricks.errors import ConfigError, DataError, check_arg


def make_tf_dataset(
    x: np.ndarray,
    y: np.ndarray | None,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    shuffle_buffer: int | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches of ``(x, y)`` (or of ``x`` alone when ``y`` is None).

    Shuffling uses ``shuffle(buffer, seed=seed, reshuffle_each_iteration=True)``:
    every epoch sees a new order, and the sequence of orders is the same for
    the same ``seed`` (and the same global TensorFlow seed, if one is set).

    Args:
        x: Inputs, shape ``(N, ...)``.
        y: Targets of length ``N``, or ``None``.
        batch_size: Samples per batch, >= 1.
        shuffle: Shuffle the samples (training) or keep their order (evaluation).
        seed: Seed of the shuffle.
        shuffle_buffer: Shuffle buffer size, >= 1; default ``N`` (a full, uniform
            shuffle). Smaller buffers save memory but shuffle only locally.
        drop_remainder: Drop the last batch of an epoch when it is smaller.
        repeat: Repeat indefinitely (epoch boundaries are kept: batches never
            mix two epochs). Pair with ``steps_per_epoch``.

    Returns:
        A ``tf.data.Dataset`` ending in ``prefetch(AUTOTUNE)``.

    Example:
        >>> ds = make_tf_dataset(x, y, batch_size=32, shuffle=True, seed=0)
        >>> model.fit(ds, epochs=3)
    """
    check_arg(int(batch_size) >= 1, "batch_size", ">= 1", batch_size)
    n = len(x)
    if y is not None and len(y) != n:
        raise DataError(f"x has {n} rows but y has {len(y)}")
    tensors = x if y is None else (x, y)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    if shuffle:
        buffer = n if shuffle_buffer is None else shuffle_buffer
        check_arg(int(buffer) >= 1, "shuffle_buffer", ">= 1", shuffle_buffer)
        ds = ds.shuffle(int(buffer), seed=int(seed), reshuffle_each_iteration=True)
    ds = ds.batch(int(batch_size), drop_remainder=drop_remainder)
    if repeat:
        ds = ds.repeat()
    return ds.prefetch(tf.data.AUTOTUNE)


def steps_per_epoch(n: int, batch_size: int, drop_remainder: bool = False) -> int:
    """Batches in one pass over ``n`` samples: ``n // b`` or ``ceil(n / b)``.

    Args:
        n: Number of samples, >= 0.
        batch_size: Samples per batch, >= 1.
        drop_remainder: Whether the last, smaller batch is dropped.
    """
    check_arg(int(batch_size) >= 1, "batch_size", ">= 1", batch_size)
    if n < 0:
        raise ConfigError(f"Argument `n` must be >= 0. Received: n={n!r}")
    return n // batch_size if drop_remainder else math.ceil(n / batch_size)


__all__ = ["make_tf_dataset", "steps_per_epoch"]
