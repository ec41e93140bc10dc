"""Data echoing (Choi et al. 2019, arXiv 1907.05550): reuse upstream output to keep the trainer busy.

When the input pipeline (reading, decoding, augmentation) is slower than the
training step, the accelerator idles. Echoing repeats each element that
leaves a pipeline stage ``e`` times, so the upstream stages do ``1/e`` of the
work per example trained on. Echoing *examples* (before batching) with a
shuffle buffer spreads the copies over different batches; echoing *batches*
(after batching) repeats whole batches, which is cheaper but less diverse.
"""

from __future__ import annotations

import math
from typing import Literal

import tensorflow as tf

from kerastricks.errors import check_arg

LEVELS = ("example", "batch")

#: Default shuffle buffer after example-level echoing (elements).
EXAMPLE_SHUFFLE_BUFFER = 1024


def echo(
    dataset: tf.data.Dataset,
    factor: float,
    level: Literal["example", "batch"] = "example",
    shuffle_buffer: int | None = None,
    seed: int = 0,
) -> tf.data.Dataset:
    """Repeat every element of ``dataset`` ``factor`` times.

    A non-integer factor repeats each element ``floor(factor)`` times plus
    once more with probability ``factor - floor(factor)`` (drawn per element
    from ``tf.data.Dataset.random(seed)``), so the expected number of copies
    is ``factor``.

    Args:
        dataset: Unbatched examples (``level="example"``) or batches
            (``level="batch"``).
        factor: Expected copies per element, >= 1 (1 returns ``dataset``).
        level: ``"example"`` (place it before ``batch()``) or ``"batch"``
            (after it). Only used to pick the default shuffle buffer.
        shuffle_buffer: Shuffle buffer applied after repeating, so copies land
            in different batches; 0 keeps copies adjacent. Default: 1024 for
            ``"example"``, 0 for ``"batch"``.
        seed: Seed of the probabilistic repeats and of the shuffle.

    Returns:
        The echoed ``tf.data.Dataset``.

    Example:
        >>> ds = tf.data.Dataset.range(4)
        >>> list(echo(ds, 2, shuffle_buffer=0).as_numpy_iterator())
        [0, 0, 1, 1, 2, 2, 3, 3]
    """
    check_arg(isinstance(factor, (int, float)) and factor >= 1, "factor", "a number >= 1", factor)
    check_arg(level in LEVELS, "level", f"one of {', '.join(LEVELS)}", level)
    if shuffle_buffer is None:
        shuffle_buffer = EXAMPLE_SHUFFLE_BUFFER if level == "example" else 0
    check_arg(int(shuffle_buffer) >= 0, "shuffle_buffer", ">= 0", shuffle_buffer)
    if factor == 1:
        return dataset
    whole = int(math.floor(factor))
    frac = float(factor) - whole

    # Each element becomes a stack of its copies, then unbatch() flattens the stacks: much cheaper
    # in tf.data than building a small dataset per element with flat_map.
    def stack(element, n):
        return tf.nest.map_structure(lambda t: tf.repeat(t[None], n, axis=0), element)

    if frac == 0:
        out = dataset.map(lambda *e: stack(e if len(e) > 1 else e[0], whole)).unbatch()
        known = int(dataset.cardinality())
        if known >= 0:  # keep the length known, so Keras knows the epoch's steps from the start
            out = out.apply(tf.data.experimental.assert_cardinality(known * whole))
    else:
        draws = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

        def stack_random(element, r):
            u = tf.cast(r % (1 << 24), tf.float32) / float(1 << 24)
            return stack(element, whole + tf.cast(u < frac, tf.int32))

        out = tf.data.Dataset.zip((dataset, draws)).map(stack_random).unbatch()
    if shuffle_buffer:
        out = out.shuffle(int(shuffle_buffer), seed=seed, reshuffle_each_iteration=True)
    return out


def fresh_count(n: int, factor: float) -> int:
    """Upstream examples read per epoch when an epoch trains on ``n`` examples echoed ``factor`` times."""
    return math.ceil(n / factor)


__all__ = ["LEVELS", "echo", "fresh_count"]
