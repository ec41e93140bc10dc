"""Data echoing: each element repeated factor times, spread by the shuffle buffer, fractional factors."""

from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.data import echo
from kerastricks.errors import ConfigError


def values(ds):
    return [int(v) for v in ds.as_numpy_iterator()]


@settings(max_examples=15, deadline=None)
@given(n=st.integers(1, 12), factor=st.integers(1, 4), buffer=st.integers(0, 8))
def test_integer_factor_repeats_every_element_exactly_factor_times(n, factor, buffer):
    out = echo(tf.data.Dataset.range(n), factor, shuffle_buffer=buffer)
    assert Counter(values(out)) == {i: factor for i in range(n)}
    assert int(out.cardinality()) == n * factor  # known length: Keras knows the steps per epoch


def test_no_shuffle_keeps_copies_adjacent_and_batches_repeat_whole():
    assert values(echo(tf.data.Dataset.range(3), 2, shuffle_buffer=0)) == [0, 0, 1, 1, 2, 2]
    batches = [b.tolist() for b in echo(tf.data.Dataset.range(4).batch(2), 2, level="batch").as_numpy_iterator()]
    assert batches == [[0, 1], [0, 1], [2, 3], [2, 3]]


def test_shuffle_buffer_spreads_copies_over_batches():
    out = values(echo(tf.data.Dataset.range(64), 2, shuffle_buffer=64, seed=3))
    adjacent = sum(a == b for a, b in zip(out, out[1:]))
    assert adjacent < 8  # without the buffer all 64 copies would sit next to their twin


def test_fractional_factor_repeats_probabilistically():
    n = 4000
    counts = Counter(values(echo(tf.data.Dataset.range(n), 1.5, shuffle_buffer=0, seed=1)))
    assert set(counts.values()) <= {1, 2} and len(counts) == n
    # E[copies] = 1.5, sd of the total = sqrt(n * 0.25) ~ 32: 5 sd tolerance
    assert abs(sum(counts.values()) - 1.5 * n) < 5 * np.sqrt(n * 0.25)


def test_echo_rejects_bad_arguments():
    with pytest.raises(ConfigError, match="factor"):
        echo(tf.data.Dataset.range(3), 0.5)
    with pytest.raises(ConfigError, match="level"):
        echo(tf.data.Dataset.range(3), 2, level="epoch")
