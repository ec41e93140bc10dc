"""Class-aware re-sampling: the sampling formula, the drawn frequencies, determinism and resume."""

import keras
import numpy as np
import pytest

from kerastricks.data import ClassResampler, sampling_probabilities
from kerastricks.errors import ConfigError

COUNTS = np.array([60, 25, 10, 5])
Y = np.repeat(np.arange(4), COUNTS)
X = np.arange(len(Y), dtype=np.float32)[:, None]


def test_probabilities_follow_kang_eq_1():
    # p_c = n_c^q / sum n^q (Kang et al. 2019, eq. 1), written out in numpy
    for mode, q in (("instance", 1.0), ("class", 0.0), ("sqrt", 0.5)):
        ref = COUNTS**q / np.sum(COUNTS**q)
        np.testing.assert_allclose(sampling_probabilities(COUNTS, mode), ref, rtol=1e-12)
    inst, bal = COUNTS / COUNTS.sum(), np.full(4, 0.25)
    for epoch, t in ((0, 0.0), (2, 0.5), (4, 1.0), (9, 1.0)):
        np.testing.assert_allclose(sampling_probabilities(COUNTS, "progressive", epoch, 5),
                                   (1 - t) * inst + t * bal, rtol=1e-12)


def drawn_classes(sampler, ds):
    return np.concatenate([b[1].numpy() for b in ds])


def test_epochs_draw_with_the_right_frequencies_and_size():
    sampler = ClassResampler(Y, mode="class", epochs=40, seed=0)
    ds = sampler.dataset(X, Y, batch_size=16)
    sampler.on_epoch_begin(0)
    batches = list(ds)
    assert len(batches) == int(np.ceil(len(Y) / 16)) == int(ds.cardinality())  # steps per epoch unchanged
    for xb, yb in batches:
        assert np.array_equal(Y[xb.numpy()[:, 0].astype(int)], yb.numpy())  # rows stay paired
    labels = [Y[sampler.indices(epoch)] for epoch in range(20)]
    freq = np.bincount(np.concatenate(labels), minlength=4) / (20 * len(Y))
    # 2000 draws: the standard error of a 0.25 frequency is ~0.01; 0.04 is 4 sigma
    np.testing.assert_allclose(freq, 0.25, atol=0.04)
    # the tail class examples are all used (drawn uniformly within the class)
    tail_rows = np.concatenate([b[0].numpy()[:, 0] for b in ds])
    assert set(tail_rows[Y[tail_rows.astype(int)] == 3].astype(int)) <= set(np.flatnonzero(Y == 3))


def test_draws_depend_on_seed_and_epoch_only():
    a = ClassResampler(Y, mode="progressive", epochs=5, seed=3)
    b = ClassResampler(Y, mode="progressive", epochs=5, seed=3)
    ds_a = a.dataset(X, Y, batch_size=8)
    # a run that "resumes" at epoch 3 sees what the uninterrupted run saw at epoch 3
    for epoch in range(4):
        a.on_epoch_begin(epoch)
        seen = drawn_classes(a, ds_a)
    b.load_state_dict({"epoch": 3})
    assert np.array_equal(drawn_classes(b, b.dataset(X, Y, batch_size=8)), seen)
    assert np.array_equal(Y[a.indices(3)], seen)
    # without the callback the pipeline counts epochs itself
    c = ClassResampler(Y, mode="class", epochs=5, seed=3)
    ds_c = c.dataset(X, Y, batch_size=8)
    first, second = drawn_classes(c, ds_c), drawn_classes(c, ds_c)
    assert np.array_equal(first, Y[c.indices(0)]) and np.array_equal(second, Y[c.indices(1)])


def test_trains_with_fit_and_round_trips_config():
    sampler = ClassResampler(Y, mode="sqrt", epochs=2, seed=0)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(4)])
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(sampler.dataset(X / 100, Y, batch_size=25), epochs=2, callbacks=[sampler], shuffle=False,
                        verbose=0)
    assert len(history.history["loss"]) == 2 and sampler.state_dict()["epoch"] == 2
    clone = ClassResampler.from_config(sampler.get_config())
    assert np.array_equal(clone.indices(1), sampler.indices(1))


def test_errors():
    with pytest.raises(ConfigError, match="mode"):
        ClassResampler(Y, mode="balanced")
    with pytest.raises(ConfigError, match=r"class counts of y\[1\]"):
        ClassResampler(np.array([0, 0, 2]), mode="class")
    with pytest.raises(ConfigError, match=r"class_counts\[1\]"):
        sampling_probabilities([3, 0], "class")
