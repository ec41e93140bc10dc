"""The Zhu & Gupta sparsity schedule against its formula in numpy; the update grid; exact-k magnitude masks; N:M
masks against a numpy reference."""

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.pruning import magnitude_mask, n_m_mask, parse_structure, polynomial_sparsity, pruning_due


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


@settings(max_examples=30, deadline=None)
@given(taps=st.integers(1, 3), groups=st.integers(1, 5), out=st.integers(1, 4),
       nm=st.sampled_from([(1, 2), (2, 4), (1, 4), (3, 4), (2, 8)]), seed=st.integers(0, 2**16))
def test_n_m_mask_keeps_the_n_largest_of_every_group_of_m_inputs(taps, groups, out, nm, seed):
    n, m = nm
    w = np.random.default_rng(seed).normal(size=(taps, groups * m, out)).astype("float32")  # a Conv1D kernel
    got = keras.ops.convert_to_numpy(n_m_mask(np.abs(w), n, m))
    want = np.zeros_like(w)  # numpy reference: per tap and output, the n largest |w| of each block of m inputs
    for a in range(taps):
        for g in range(groups):
            for o in range(out):
                block = np.abs(w[a, g * m:(g + 1) * m, o])
                want[a, g * m + np.argsort(block, kind="stable")[m - n:], o] = 1
    np.testing.assert_array_equal(got, want)
    assert got.sum() == n * got.size // m  # sparsity exactly 1 - n/m


def test_parse_structure_accepts_n_m_only():
    assert parse_structure("2:4") == (2, 4) and parse_structure(" 1 : 8") == (1, 8)
    for bad in ("4:2", "2:2", "0:4", "2-4", "a:b", "2:4:8"):
        with pytest.raises(ValueError, match="0 < N < M"):
            parse_structure(bad)
    with pytest.raises(ValueError, match="multiple of m=4"):
        n_m_mask(np.ones((6, 3)), 2, 4)
