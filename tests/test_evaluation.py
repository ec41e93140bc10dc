"""Test-set metrics against scikit-learn."""

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn import metrics as skm

from kerastricks.evaluation import classification_metrics, confusion_matrix, regression_metrics

# Both sides compute ratios of small integer counts in float64: agreement to ~1e-15.
TOL = dict(rtol=1e-12, atol=1e-12)


def sklearn_reference(y_true, y_pred, num_classes):
    labels = list(range(num_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about classes absent from y_true
        precision, recall, f1, support = skm.precision_recall_fscore_support(
            y_true, y_pred, labels=labels, zero_division=0
        )
        return {
            "accuracy": skm.accuracy_score(y_true, y_pred),
            "balanced_accuracy": skm.balanced_accuracy_score(y_true, y_pred),
            "macro_f1": skm.f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0),
            "precision": precision, "recall": recall, "f1": f1, "support": support,
            "confusion_matrix": skm.confusion_matrix(y_true, y_pred, labels=labels),
        }


def assert_matches_sklearn(y_true, y_pred, num_classes):
    got = classification_metrics(y_true, y_pred, num_classes)
    ref = sklearn_reference(y_true, y_pred, num_classes)
    for key in ("accuracy", "balanced_accuracy", "macro_f1"):
        np.testing.assert_allclose(got[key], ref[key], **TOL, err_msg=key)
    for key in ("precision", "recall", "f1", "support"):
        np.testing.assert_allclose([c[key] for c in got["per_class"]], ref[key], **TOL, err_msg=key)
    np.testing.assert_array_equal(got["confusion_matrix"], ref["confusion_matrix"])
    return got


def test_random_labels_with_a_class_never_predicted_and_one_absent():
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 4, size=200)  # class 4 never occurs in y_true
    y_pred = np.where(rng.random(200) < 0.6, y_true, rng.integers(0, 5, size=200))
    y_pred[y_pred == 2] = 3  # class 2 is never predicted
    got = assert_matches_sklearn(y_true, y_pred, 5)
    assert got["per_class"][2]["precision"] == 0.0 and got["per_class"][4]["recall"] == 0.0
    assert got["per_class"][4]["support"] == 0


def test_class_names_and_types():
    got = classification_metrics([0, 1, 1], [0, 1, 0], 2, class_names=["cat", "dog"])
    assert [c["class"] for c in got["per_class"]] == ["cat", "dog"]
    assert classification_metrics([0, 1], [0, 1], 2)["per_class"][1]["class"] == "1"
    assert isinstance(got["accuracy"], float) and isinstance(got["per_class"][0]["support"], int)
    assert got["confusion_matrix"] == [[1, 0], [1, 1]]


def test_column_vectors_are_accepted():
    y_true = np.array([[0], [1], [2], [2]])
    y_pred = np.array([0, 2, 2, 2])
    np.testing.assert_array_equal(confusion_matrix(y_true, y_pred, 3), [[1, 0, 0], [0, 0, 1], [0, 0, 2]])


def test_empty_input():
    got = classification_metrics(np.array([], int), np.array([], int), 3)
    assert got["accuracy"] == 0.0 and got["balanced_accuracy"] == 0.0 and got["macro_f1"] == 0.0


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 6).flatmap(
        lambda c: st.tuples(
            st.just(c),
            st.lists(st.tuples(st.integers(0, c - 1), st.integers(0, c - 1)), min_size=1, max_size=40),
        )
    )
)
def test_matches_sklearn_on_any_labels(case):
    num_classes, pairs = case
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    got = assert_matches_sklearn(y_true, y_pred, num_classes)
    cm = np.array(got["confusion_matrix"])
    assert cm.sum() == len(pairs) and np.trace(cm) == (y_true == y_pred).sum()


@pytest.mark.parametrize("shape", [(50,), (50, 1)])
def test_regression_matches_sklearn(shape):
    rng = np.random.default_rng(1)
    y_true = rng.normal(size=shape)
    y_pred = y_true + 0.3 * rng.normal(size=shape)
    got = regression_metrics(y_true, y_pred)
    # float64 sums of 50 terms: ~1e-15 relative; 1e-10 is far from any formula error.
    np.testing.assert_allclose(got["mae"], skm.mean_absolute_error(y_true, y_pred), rtol=1e-10)
    np.testing.assert_allclose(got["mse"], skm.mean_squared_error(y_true, y_pred), rtol=1e-10)
    np.testing.assert_allclose(got["rmse"], np.sqrt(skm.mean_squared_error(y_true, y_pred)), rtol=1e-10)
    np.testing.assert_allclose(got["r2"], skm.r2_score(y_true, y_pred), rtol=1e-10)


def test_regression_multi_output_is_pooled():
    rng = np.random.default_rng(2)
    y_true = rng.normal(size=(40, 3)) * np.array([1.0, 10.0, 0.1])
    y_pred = y_true + rng.normal(size=(40, 3))
    got = regression_metrics(y_true, y_pred)
    np.testing.assert_allclose(got["mse"], skm.mean_squared_error(y_true, y_pred), rtol=1e-10)
    np.testing.assert_allclose(got["mae"], skm.mean_absolute_error(y_true, y_pred), rtol=1e-10)
    # R^2 over all outputs pools residual and total sums of squares: sklearn's "variance_weighted".
    np.testing.assert_allclose(got["r2"], skm.r2_score(y_true, y_pred, multioutput="variance_weighted"), rtol=1e-10)


def test_regression_constant_target_has_nan_r2():
    got = regression_metrics(np.ones(5), np.zeros(5))
    assert np.isnan(got["r2"]) and got["mse"] == 1.0 and got["mae"] == 1.0


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.floats(-1e3, 1e3), st.floats(-1e3, 1e3)), min_size=2, max_size=30))
def test_regression_properties(pairs):
    y_true = np.array([t for t, _ in pairs])
    y_pred = np.array([p for _, p in pairs])
    got = regression_metrics(y_true, y_pred)
    assert got["mse"] >= 0 and got["mae"] >= 0
    assert got["rmse"] >= got["mae"] - 1e-9 * (1 + got["mae"])  # RMS >= mean absolute (power-mean inequality)
    if np.var(y_true) > 1e-6:
        np.testing.assert_allclose(got["r2"], skm.r2_score(y_true, y_pred), rtol=1e-7, atol=1e-7)
        assert got["r2"] <= 1.0
