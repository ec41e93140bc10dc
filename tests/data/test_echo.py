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


def test_copies_stay_within_the_shuffle_window_and_pairs_stay_paired():
    n, window = 200, 32
    x = np.arange(n, dtype=np.float32)[:, None] * np.ones((1, 3), np.float32)
    ds = tf.data.Dataset.from_tensor_slices((x, np.arange(n)))
    out = list(echo(ds, 2, shuffle_buffer=window, seed=5).as_numpy_iterator())
    labels = [int(y) for _, y in out]
    assert all(xi[0] == y for xi, y in out)  # inputs travel with their labels
    where: dict[int, list[int]] = {}
    for pos, y in enumerate(labels):
        where.setdefault(y, []).append(pos)
    assert all(len(p) == 2 and p[1] - p[0] < window for p in where.values())
    assert labels != sorted(labels)  # permuted inside each window


def test_new_permutation_each_epoch_same_sequence_for_the_same_seed():
    def two_epochs(seed):
        ds = echo(tf.data.Dataset.range(50), 2, shuffle_buffer=20, seed=seed)
        return values(ds), values(ds)

    first, second = two_epochs(1)
    assert first != second and sorted(first) == sorted(second)
    assert two_epochs(1) == (first, second)


def test_elements_of_varying_shape_are_echoed_one_by_one():
    ds = tf.data.Dataset.from_generator(lambda: (np.ones(k, np.float32) * k for k in range(1, 5)),
                                        output_signature=tf.TensorSpec([None], tf.float32))
    out = [v.tolist() for v in echo(ds, 2, shuffle_buffer=0).as_numpy_iterator()]
    assert out == [[1.0], [1.0], [2.0, 2.0], [2.0, 2.0], [3.0] * 3, [3.0] * 3, [4.0] * 4, [4.0] * 4]
