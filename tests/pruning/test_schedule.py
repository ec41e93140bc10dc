"""The Zhu & Gupta sparsity schedule against its formula in numpy; the update grid; exact-k magnitude masks."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.pruning import magnitude_mask, polynomial_sparsity, pruning_due


@settings(max_examples=60, deadline=None)
@given(s_i=st.floats(0, 0.5), ds=st.floats(0, 0.49), t0=st.integers(0, 50), span=st.integers(1, 200),
       t=st.integers(0, 300))
def test_schedule_matches_the_formula(s_i, ds, t0, span, t, zhu_gupta):
    s_f = s_i + ds
    got = float(keras.ops.convert_to_numpy(polynomial_sparsity(t, s_i, s_f, t0, t0 + span)))
    # float32 arithmetic of values in [0, 1): 1e-6
    assert got == pytest.approx(zhu_gupta(t, s_i, s_f, t0, t0 + span), abs=1e-6)


def test_schedule_is_monotone_with_exact_ends():
    steps = np.arange(0, 120)
    s = keras.ops.convert_to_numpy(polynomial_sparsity(steps, 0.1, 0.9, 10, 100))
    assert s[9] == 0.0 and s[10] == pytest.approx(0.1) and s[100] == pytest.approx(0.9) and s[119] == pytest.approx(0.9)
    assert np.all(np.diff(s[10:]) >= 0)
    # the cubic prunes fast first: half of the way in time is 7/8 of the way in sparsity
    assert s[55] == pytest.approx(0.9 - 0.8 * 0.5**3, abs=1e-6)


def test_updates_fall_on_the_frequency_grid_and_the_last_step():
    due = keras.ops.convert_to_numpy(pruning_due(np.arange(0, 40), 5, 27, 10))
    assert np.flatnonzero(due).tolist() == [5, 15, 25, 27]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), s=st.floats(0, 0.999), seed=st.integers(0, 2**16))
def test_mask_drops_exactly_the_k_smallest(n, s, seed):
    w = np.random.default_rng(seed).normal(size=n).astype("float32")
    mask = keras.ops.convert_to_numpy(magnitude_mask(np.abs(w), s))
    k = int(np.floor(np.float32(s) * np.float32(n)))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert int((mask == 0).sum()) == k
    if 0 < k < n:  # every kept weight is at least as large as every dropped one
        assert np.abs(w[mask == 1]).min() >= np.abs(w[mask == 0]).max()
