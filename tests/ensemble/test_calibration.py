"""Expected calibration error and test cross-entropy against hand computations and their properties."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.evaluation import expected_calibration_error, negative_log_likelihood, softmax


def test_ece_by_hand():
    # two bins used (10 bins): confidence 0.95 (bin 9) on 2 examples, one right; 0.55 (bin 5) on 2, both right.
    probs = np.array([[0.95, 0.05], [0.95, 0.05], [0.45, 0.55], [0.55, 0.45]])
    y = np.array([0, 1, 1, 0])
    expected = 0.5 * abs(0.5 - 0.95) + 0.5 * abs(1.0 - 0.55)
    assert expected_calibration_error(probs, y, bins=10) == pytest.approx(expected, abs=1e-12)


def test_ece_bin_edges_are_right_closed():
    # 0.6 belongs to (0.5, 0.6] with 10 bins, not (0.6, 0.7]: one bin, |1 - 0.6|
    probs = np.array([[0.6, 0.4], [0.4, 0.6]])
    assert expected_calibration_error(probs, np.array([0, 1]), bins=10) == pytest.approx(0.4)
    with pytest.raises(ValueError, match="bins"):
        expected_calibration_error(probs, np.array([0, 1]), bins=0)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**16), n=st.integers(1, 60), k=st.integers(2, 6), bins=st.integers(1, 20))
def test_ece_properties(seed, n, k, bins):
    rng = np.random.default_rng(seed)
    probs = softmax(rng.normal(scale=3, size=(n, k)))
    y = rng.integers(0, k, size=n)
    ece = expected_calibration_error(probs, y, bins)
    confidence, correct = probs.max(-1), probs.argmax(-1) == y
    assert 0.0 <= ece <= 1.0
    # one bin: |accuracy - mean confidence| (no bin can hide a global gap)
    one = expected_calibration_error(probs, y, 1)
    assert one == pytest.approx(abs(correct.mean() - confidence.mean()), abs=1e-12)
    assert ece >= one - 1e-12  # the triangle inequality: finer bins never show less miscalibration
    # always right with confidence 1: perfectly calibrated
    sure = np.eye(k)[y]
    assert expected_calibration_error(sure, y, bins) == pytest.approx(0.0, abs=1e-12)


def test_nll_matches_log_softmax():
    z = np.array([[2.0, 0.0, -1.0], [0.0, 0.0, 0.0]])
    y = np.array([0, 2])
    expected = -(np.log(np.exp(2) / (np.exp(2) + 1 + np.exp(-1))) + np.log(1 / 3)) / 2
    assert negative_log_likelihood(z, y) == pytest.approx(expected, rel=1e-12)
    assert negative_log_likelihood(z + 1000.0, y) == pytest.approx(expected, rel=1e-9)  # stable for large logits
