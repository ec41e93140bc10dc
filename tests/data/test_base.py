"""Dataset container, validation split and normalization, checked against numpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from kerastricks.data.base import Dataset, normalization_stats, normalize, split_indices, split_validation
from kerastricks.errors import ConfigError, DataError, UserError


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text.strip() and "\n" not in text, text
    return text


def make_ds(task="classification", n_train=20, n_test=6, shape=(3,), seed=0, **kw) -> Dataset:
    rng = np.random.default_rng(seed)
    if task == "classification":
        y_train, y_test = rng.integers(0, 3, n_train), rng.integers(0, 3, n_test)
    else:
        y_train, y_test = rng.normal(size=n_train), rng.normal(size=n_test)
    fields = dict(
        name="toy",
        x_train=rng.normal(2.0, 3.0, (n_train, *shape)),
        y_train=y_train,
        x_val=None,
        y_val=None,
        x_test=rng.normal(2.0, 3.0, (n_test, *shape)),
        y_test=y_test,
        task=task,
        num_classes=3 if task == "classification" else None,
        class_names=["a", "b", "c"] if task == "classification" else None,
        meta={},
    )
    fields.update(kw)
    return Dataset(**fields)


# --------------------------------------------------------------------------- #
# Dataset
# --------------------------------------------------------------------------- #


def test_dataset_coerces_dtypes_and_reports_shapes():
    ds = make_ds(shape=(4, 2))
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32
    assert ds.y_train.dtype == np.int32 and ds.y_train.ndim == 1
    assert ds.input_shape == (4, 2)
    assert ds.output_dim == 3
    assert (ds.n_train, ds.n_val, ds.n_test) == (20, 0, 6)


def test_class_counts_match_bincount():
    ds = make_ds()
    np.testing.assert_array_equal(ds.class_counts(), np.bincount(ds.y_train, minlength=3))
    assert ds.class_counts().sum() == ds.n_train


def test_class_counts_include_absent_classes():
    ds = make_ds(y_train=np.zeros(20, int), num_classes=5, class_names=None)
    np.testing.assert_array_equal(ds.class_counts(), [20, 0, 0, 0, 0])


def test_regression_output_dim_and_no_classes():
    ds = make_ds(task="regression")
    assert ds.y_train.dtype == np.float32
    assert ds.num_classes is None and ds.output_dim == 1
    wide = make_ds(task="regression", y_train=np.zeros((20, 2)), y_test=np.zeros((6, 2)))
    assert wide.output_dim == 2
    with pytest.raises(DataError) as info:
        ds.class_counts()
    assert "regression" in one_line(info.value)


def test_summary_is_json_serializable():
    ds = make_ds(shape=(5, 5, 1))
    summary = json.loads(json.dumps(ds.summary()))
    assert summary == {
        "name": "toy", "task": "classification", "n_train": 20, "n_val": 0, "n_test": 6,
        "input_shape": [5, 5, 1], "num_classes": 3, "output_dim": 3,
    }


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(y_train=np.zeros(19, int)), "y_train"),
        (dict(y_test=np.array([0, 1, 2, 3, 0, 0])), "outside 0..2"),
        (dict(y_train=np.full(20, 0.5)), "non-integer"),
        (dict(x_val=np.zeros((2, 3))), "both"),
        (dict(class_names=["a"]), "class names"),
        (dict(task="ranking"), "task"),
    ],
)
def test_dataset_rejects_inconsistent_arrays(change, words):
    with pytest.raises(DataError) as info:
        make_ds(**change)
    text = one_line(info.value)
    assert "toy" in text and words in text


# --------------------------------------------------------------------------- #
# Validation split
# --------------------------------------------------------------------------- #


def test_split_zero_fraction_keeps_everything():
    x, y = np.arange(10), np.arange(10) % 2
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0.0, seed=0)
    assert x_val is None and y_val is None
    np.testing.assert_array_equal(x_tr, x)


def test_split_sizes_stratification_and_order():
    y = np.repeat([0, 1, 2], [50, 30, 20])
    x = np.arange(100)
    x_tr, y_tr, x_val, y_val = split_validation(x, y, 0.2, seed=3)
    assert (len(x_tr), len(x_val)) == (80, 20)
    np.testing.assert_array_equal(np.bincount(y_val), [10, 6, 4])
    # Samples keep their relative order and stay paired with their labels.
    assert np.all(np.diff(x_tr) > 0) and np.all(np.diff(x_val) > 0)
    np.testing.assert_array_equal(y[x_tr], y_tr)
    np.testing.assert_array_equal(y[x_val], y_val)


def test_split_size_is_ceil_like_sklearn():
    # scikit-learn's train_test_split holds out ceil(test_size * n): 0.2 * 1797 -> 360.
    y = np.arange(1797) % 10
    keep, held = split_indices(y, 0.2, seed=0)
    assert (len(keep), len(held)) == (1437, 360)
    # 0.1 * 30 is 3.0000000000000004 in floating point; still 3.
    assert len(split_indices(np.zeros(30, int), 0.1, seed=0)[1]) == 3


def test_split_is_deterministic_and_seeded():
    y = np.arange(200) % 4
    a = split_indices(y, 0.25, seed=7)
    b = split_indices(y, 0.25, seed=7)
    c = split_indices(y, 0.25, seed=8)
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_split_regression_targets_are_not_stratified():
    y = np.linspace(0, 1, 50).astype(np.float32)
    x_tr, y_tr, x_val, y_val = split_validation(np.arange(50), y, 0.3, seed=0)
    assert (len(x_tr), len(x_val)) == (35, 15)
    assert y_val.dtype == np.float32


def test_split_without_stratify_still_sized():
    y = np.repeat([0, 1], [90, 10])
    _, held = split_indices(y, 0.5, seed=0, stratify=False)
    assert len(held) == 50


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_split_fraction_out_of_range(fraction):
    with pytest.raises(ConfigError) as info:
        split_validation(np.zeros(10), np.zeros(10, int), fraction, seed=0)
    assert "data.validation_split" in one_line(info.value)


def test_split_too_few_samples():
    with pytest.raises(DataError) as info:
        split_validation(np.zeros(2), np.zeros(2, int), 0.9, seed=0)
    assert "2 samples" in one_line(info.value)


@settings(max_examples=60, deadline=None)
@given(
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=5),
    fraction=st.floats(0.01, 0.9),
    seed=st.integers(0, 2**31 - 1),
    stratify=st.booleans(),
)
def test_split_properties(counts, fraction, seed, stratify):
    y = np.repeat(np.arange(len(counts)), counts)
    n = len(y)
    n_val = max(1, math.ceil(fraction * n - 1e-9))
    assume(n_val < n)
    x = np.arange(n) * 10
    x_tr, y_tr, x_val, y_val = split_validation(x, y, fraction, seed, stratify)
    # Sizes, disjointness, coverage.
    assert len(x_val) == n_val and len(x_tr) == n - n_val
    assert not set(x_tr) & set(x_val)
    np.testing.assert_array_equal(np.sort(np.concatenate([x_tr, x_val])), x)
    np.testing.assert_array_equal(y[x_val // 10], y_val)
    # Stratified: each class gives floor or ceil of its exact share.
    if stratify:
        share = np.asarray(counts) * n_val / n
        got = np.bincount(y_val, minlength=len(counts))
        assert np.all(got >= np.floor(share)) and np.all(got <= np.ceil(share))
    # Deterministic for the seed.
    again = split_validation(x, y, fraction, seed, stratify)
    np.testing.assert_array_equal(again[2], x_val)


# --------------------------------------------------------------------------- #
# Normalization
# --------------------------------------------------------------------------- #


def test_standard_uses_train_statistics_only():
    ds = make_ds(n_train=50, n_test=20, shape=(4,), seed=1)
    ds.x_val, ds.y_val = np.full((5, 4), 100.0, np.float32), np.zeros(5, np.int32)
    out = normalize(ds, "standard")
    x64 = ds.x_train.astype(np.float64)
    mean, std = x64.mean(axis=0), x64.std(axis=0)
    for split in ("train", "val", "test"):
        expected = (getattr(ds, f"x_{split}").astype(np.float64) - mean) / std
        np.testing.assert_allclose(getattr(out, f"x_{split}"), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.x_train.mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out.x_train.std(axis=0), 1, atol=1e-5)
    assert out.x_train.dtype == np.float32
    assert out.meta["normalization"]["method"] == "standard"
    # The input dataset is not modified.
    assert abs(float(ds.x_train.mean())) > 0.5


def test_standard_constant_feature_gets_unit_scale():
    ds = make_ds(n_train=10, shape=(2,))
    ds.x_train[:, 1] = 7.0
    out = normalize(ds, "standard")
    np.testing.assert_allclose(out.x_train[:, 1], 0.0)
    np.testing.assert_allclose(out.x_test[:, 1], ds.x_test[:, 1] - 7.0, rtol=1e-6)
    assert out.meta["normalization"]["constant_features"] == 1
    json.dumps(out.meta)


def test_minmax_maps_train_to_unit_interval():
    ds = make_ds(n_train=30, shape=(3, 2), seed=2)
    out = normalize(ds, "minmax")
    lo, hi = ds.x_train.min(axis=0).astype(np.float64), ds.x_train.max(axis=0).astype(np.float64)
    np.testing.assert_allclose(out.x_test, (ds.x_test - lo) / (hi - lo), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.x_train.min(axis=0), 0, atol=1e-6)
    np.testing.assert_allclose(out.x_train.max(axis=0), 1, atol=1e-6)


def test_scale255_and_none():
    ds = make_ds(x_train=np.arange(20 * 3).reshape(20, 3) % 256, x_test=np.full((6, 3), 255))
    np.testing.assert_allclose(normalize(ds, "scale255").x_train, ds.x_train / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(normalize(ds, "scale255").x_test, 1.0)
    np.testing.assert_array_equal(normalize(ds, "none").x_train, ds.x_train)


def test_auto_uses_loader_default():
    ds = make_ds(meta={"default_normalize": "scale255"}, x_train=np.full((20, 3), 51.0))
    out = normalize(ds, "auto")
    np.testing.assert_allclose(out.x_train, 0.2)
    assert out.meta["normalization"] == {"method": "scale255", "requested": "auto"}
    plain = make_ds()
    np.testing.assert_array_equal(normalize(plain, "auto").x_train, plain.x_train)


def test_normalization_stats_shapes():
    x = np.random.default_rng(0).normal(size=(10, 4, 2))
    shift, scale = normalization_stats(x, "standard")
    assert shift.shape == scale.shape == (4, 2) and shift.dtype == np.float32


def test_unknown_normalization_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        normalize(make_ds(), "zscore")
    text = one_line(info.value)
    assert "data.normalize" in text and "zscore" in text and "standard" in text
    assert isinstance(info.value, UserError)
