"""The tf.data pipeline: batching, seeded shuffling, repeat, and argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from kerastricks.data.pipeline import make_tf_dataset, steps_per_epoch
from kerastricks.errors import ConfigError, DataError

N = 50


@pytest.fixture
def arrays():
    x = np.arange(N, dtype=np.float32).reshape(N, 1) * np.ones((1, 3), np.float32)
    y = np.arange(N, dtype=np.int32)
    return x, y


def epoch_order(ds, steps=None):
    """Sample ids (the label) in the order the pipeline yields them, per batch."""
    batches = ds.take(steps) if steps is not None else ds
    return [yb.numpy().tolist() for _, yb in batches]


def test_batches_in_order_without_shuffle(arrays):
    x, y = arrays
    ds = make_tf_dataset(x, y, batch_size=16, shuffle=False, seed=0)
    batches = list(ds)
    assert [len(b[1]) for b in batches] == [16, 16, 16, 2]
    assert len(batches) == steps_per_epoch(N, 16)
    np.testing.assert_array_equal(np.concatenate([b[1] for b in batches]), y)
    xb, yb = batches[0]
    assert xb.dtype.name == "float32" and yb.dtype.name == "int32" and tuple(xb.shape) == (16, 3)
    # Inputs stay paired with their targets.
    np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())


def test_drop_remainder(arrays):
    x, y = arrays
    ds = make_tf_dataset(x, y, batch_size=16, shuffle=True, seed=0, drop_remainder=True)
    sizes = [len(b) for b in epoch_order(ds)]
    assert sizes == [16, 16, 16] and len(sizes) == steps_per_epoch(N, 16, drop_remainder=True)


def test_same_seed_same_order_and_new_order_each_epoch(arrays):
    x, y = arrays
    a = make_tf_dataset(x, y, batch_size=8, shuffle=True, seed=3)
    b = make_tf_dataset(x, y, batch_size=8, shuffle=True, seed=3)
    a1, a2 = epoch_order(a), epoch_order(a)
    b1, b2 = epoch_order(b), epoch_order(b)
    assert a1 == b1 and a2 == b2
    assert a1 != a2  # reshuffled each iteration
    flat = sum(a1, [])
    assert sorted(flat) == list(range(N)) and flat != list(range(N))


def test_different_seeds_differ(arrays):
    x, y = arrays
    a = epoch_order(make_tf_dataset(x, y, batch_size=8, shuffle=True, seed=1))
    b = epoch_order(make_tf_dataset(x, y, batch_size=8, shuffle=True, seed=2))
    assert a != b


def test_repeat_keeps_epoch_boundaries(arrays):
    x, y = arrays
    steps = steps_per_epoch(N, 16)
    ds = make_tf_dataset(x, y, batch_size=16, shuffle=True, seed=0, repeat=True)
    order = epoch_order(ds, steps=3 * steps)
    for epoch in range(3):
        ids = sum(order[epoch * steps : (epoch + 1) * steps], [])
        assert sorted(ids) == list(range(N))


def test_small_shuffle_buffer_still_yields_every_sample(arrays):
    x, y = arrays
    ds = make_tf_dataset(x, y, batch_size=10, shuffle=True, seed=0, shuffle_buffer=4)
    assert sorted(sum(epoch_order(ds), [])) == list(range(N))


def test_inputs_only(arrays):
    x, _ = arrays
    batches = list(make_tf_dataset(x, None, batch_size=20, shuffle=False, seed=0))
    assert [tuple(b.shape) for b in batches] == [(20, 3), (20, 3), (10, 3)]


def test_private_thread_pool_keeps_the_data(arrays):
    x, y = arrays
    plain = make_tf_dataset(x, y, batch_size=8, shuffle=True, seed=3, augment=lambda xi, s: xi * 2.0)
    pooled = make_tf_dataset(x, y, batch_size=8, shuffle=True, seed=3, augment=lambda xi, s: xi * 2.0, threads=1)
    assert pooled.options().threading.private_threadpool_size == 1
    assert plain.options().threading.private_threadpool_size in (None, 0)  # tf.data's shared pool
    assert epoch_order(pooled) == epoch_order(plain)
    np.testing.assert_array_equal(np.concatenate([b[0] for b in pooled]), np.concatenate([b[0] for b in plain]))


def test_argument_errors(arrays):
    x, y = arrays
    with pytest.raises(ConfigError) as info:
        make_tf_dataset(x, y, batch_size=0, shuffle=False, seed=0)
    assert "batch_size" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        make_tf_dataset(x, y, batch_size=4, shuffle=True, seed=0, shuffle_buffer=0)
    with pytest.raises(DataError):
        make_tf_dataset(x, y[:-1], batch_size=4, shuffle=False, seed=0)
    with pytest.raises(ConfigError) as info:
        make_tf_dataset(x, y, batch_size=4, shuffle=False, seed=0, threads=0)
    assert "threads" in str(info.value)


@pytest.mark.parametrize("n, b", [(0, 4), (1, 4), (50, 16), (64, 16), (1000, 7)])
def test_steps_per_epoch(n, b):
    assert steps_per_epoch(n, b) == math.ceil(n / b)
    assert steps_per_epoch(n, b, drop_remainder=True) == n // b


def test_steps_per_epoch_rejects_bad_arguments():
    with pytest.raises(ConfigError):
        steps_per_epoch(10, 0)
    with pytest.raises(ConfigError):
        steps_per_epoch(-1, 4)


def test_epoch_range_resumed_at_k_yields_the_tail_of_the_whole_run(arrays):
    x, y = arrays

    def run(first, extra=0):  # the stream is endless (see _epochs): read the run's batches (+ extra)
        ds = make_tf_dataset(x, y, batch_size=16, shuffle=True, seed=3, epoch_range=(first, 4))
        return epoch_order(ds, steps=(4 - first) * 4 + extra)

    whole = run(0)
    assert len(whole) == 4 * 4 and whole[:4] != whole[4:8]  # 4 batches per epoch, a new order each epoch
    assert run(2) == whole[8:]
    assert len(run(0, extra=5)) == 21  # fit never meets an end of data, whatever steps_per_execution does


def test_epoch_steps_cuts_or_restarts_each_epoch(arrays):
    x, y = arrays

    def run(steps, first=0):
        ds = make_tf_dataset(x, y, batch_size=16, shuffle=True, seed=3, epoch_range=(first, 3), epoch_steps=steps)
        return epoch_order(ds, steps=(3 - first) * (steps or 4))  # endless stream: read the run's batches

    natural = run(None)  # 4 batches per epoch: 16, 16, 16, 2
    longer = run(6)
    assert len(longer) == 18
    assert longer[:6] == natural[:4] + natural[:2]  # epoch 0 again from its first batch
    assert longer[6:10] == natural[4:8] and longer[12:16] == natural[8:12]
    assert run(3) == natural[0:3] + natural[4:7] + natural[8:11]
    assert run(6, first=1) == longer[6:]
    with pytest.raises(ConfigError, match="epoch_steps"):
        make_tf_dataset(x, y, batch_size=16, shuffle=True, seed=3, epoch_range=(0, 3), epoch_steps=0)


def test_stages_with_an_epoch_keyword_see_each_epoch(arrays):
    x, y = arrays
    seen_plain, seen_epochs = [], []

    def plain(ds):
        seen_plain.append(None)
        return ds

    def per_epoch(ds, epoch=0):
        seen_epochs.append(epoch)
        return ds.map(lambda xi, yi: (xi + tf.cast(epoch, xi.dtype), yi))

    ds = make_tf_dataset(x, y, batch_size=N, shuffle=False, seed=0, epoch_range=(1, 4),
                         stages={"after_augmentation": [plain, per_epoch]})
    assert seen_epochs == [1, 2, 3] and len(seen_plain) == 3
    firsts = [float(xb.numpy()[0, 0]) for xb, _ in ds.take(3)]
    assert firsts == [1.0, 2.0, 3.0]  # sample 0 plus its epoch: each epoch got its own stage
