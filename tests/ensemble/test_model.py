"""The ensemble model: combine_outputs against numpy, EnsembleAverage round-trips, the ensemble's predictions
equal the mean of its members', and the saved model predicts the same in a fresh process."""

import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from kerastricks.ensemble import EnsembleAverage, build_ensemble, combine_outputs, ensemble_members


def np_softmax(z):
    e = np.exp(z - z.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


def np_combine(z, method):
    """Independent reference: the module's three rules written out in numpy (float64)."""
    z = np.asarray(z, np.float64)
    m = z.shape[0]
    p = np_softmax(z).mean(0)
    if method == "mean":
        return np.log(p)
    if method == "logit_mean":
        return z.mean(0)
    votes = np.zeros(z.shape[1:])
    for member in z:
        votes[np.arange(len(member)), member.argmax(-1)] += 1
    return np.log((votes + 0.5 * p) / (m + 0.5))


logits = arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 6), st.integers(2, 5)),
                elements=st.floats(-20, 20, width=32))


@pytest.mark.parametrize("method", ["mean", "vote", "logit_mean"])
def test_combine_matches_numpy(method):
    z = np.random.default_rng(1).normal(scale=3.0, size=(4, 9, 5)).astype("float32")
    got = keras.ops.convert_to_numpy(combine_outputs(z, method))
    np.testing.assert_allclose(got, np_combine(z, method), rtol=1e-5, atol=1e-5)  # float32 math


@settings(max_examples=30, deadline=None)
@given(z=logits)
def test_combine_properties(z):
    mean = keras.ops.convert_to_numpy(combine_outputs(z, "mean"))
    np.testing.assert_allclose(np.exp(mean).sum(-1), 1.0, rtol=1e-5)  # log of a distribution
    np.testing.assert_allclose(mean, np_combine(z, "mean"), rtol=1e-4, atol=1e-4)
    vote = keras.ops.convert_to_numpy(combine_outputs(z, "vote"))
    np.testing.assert_allclose(np.exp(vote).sum(-1), 1.0, rtol=1e-5)
    assert np.isfinite(vote).all()  # no class at 0: the loss stays finite
    votes = np.stack([np.bincount(z[:, i].argmax(-1), minlength=z.shape[-1]) for i in range(z.shape[1])])
    # the winner has the most votes (ties go to the higher mean probability); a member whose top logits tie
    # exactly (e.g. -0.0 and 0.0) may vote for either, so only examples with a unique pick in every member count
    top = np.sort(z, axis=-1)
    unique = (top[..., -1] > top[..., -2]).all(axis=0)
    assert (votes[np.arange(len(votes)), vote.argmax(-1)] == votes.max(-1))[unique].all()
    # one member: the mean probability is the member's, and the logit mean is the member itself
    one = keras.ops.convert_to_numpy(combine_outputs(z[:1], "mean"))
    np.testing.assert_allclose(np_softmax(one), np_softmax(z[0].astype(np.float64)), atol=1e-5)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(combine_outputs(z[:1], "logit_mean")), z[0], atol=1e-6)


def test_combine_regression_and_bad_arguments():
    z = np.arange(12, dtype="float32").reshape(3, 2, 2)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(combine_outputs(z, "mean", "regression")), z.mean(0))
    with pytest.raises(ValueError, match="method"):
        EnsembleAverage("median")
    with pytest.raises(ValueError, match="must be 'mean' for a regression"):
        EnsembleAverage("vote", task="regression")


def test_layer_config_round_trip():
    layer = EnsembleAverage("vote", name="combine")
    config = layer.get_config()
    again = EnsembleAverage.from_config(config)
    assert again.get_config() == config and again.method == "vote" and again.task == "classification"


def member(seed):
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.BatchNormalization(), keras.layers.Dense(3, name="logits")], name="net")


@pytest.fixture(scope="module")
def members():
    models = [member(s) for s in range(3)]
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    for m in models:  # move the BatchNorm statistics away from their initial values
        m.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        m.fit(x, (x[:, 0] > 0).astype("int32"), epochs=1, batch_size=16, verbose=0)
    return models


def test_ensemble_predictions_equal_the_mean_of_its_members(members):
    x = np.random.default_rng(2).normal(size=(10, 6)).astype("float32")
    z = np.stack([m.predict(x, verbose=0) for m in members]).astype(np.float64)
    mean = build_ensemble(members, "mean").predict(x, verbose=0)
    np.testing.assert_allclose(np_softmax(mean), np_softmax(z).mean(0), atol=1e-6)
    logit_mean = build_ensemble(members, "logit_mean").predict(x, verbose=0)
    np.testing.assert_allclose(logit_mean, z.mean(0), atol=1e-5)
    ensemble = build_ensemble(members, "vote")
    assert [m.name for m in ensemble_members(ensemble)] == ["member_0", "member_1", "member_2"]
    assert ensemble.count_params() == sum(m.count_params() for m in members)


def test_members_must_agree():
    other = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
    with pytest.raises(ValueError, match="member 1 maps"):
        build_ensemble([member(0), other])
    with pytest.raises(ValueError, match="at least one"):
        build_ensemble([])


def test_saved_ensemble_predicts_the_same_in_a_fresh_process(members, tmp_path):
    x = np.random.default_rng(3).normal(size=(5, 6)).astype("float32")
    ensemble = build_ensemble(members, "vote")
    path = tmp_path / "ensemble.keras"
    ensemble.save(path)
    np.save(tmp_path / "x.npy", x)
    code = ("import sys, numpy as np, kerastricks, keras\n"
            "m = keras.saving.load_model(sys.argv[1])\n"
            "np.save(sys.argv[3], m.predict(np.load(sys.argv[2]), verbose=0))\n")
    proc = subprocess.run([sys.executable, "-c", code, str(path), str(tmp_path / "x.npy"), str(tmp_path / "y.npy")],
                          capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), ensemble.predict(x, verbose=0), atol=1e-6)
