"""mnist1d and digits: the datasets that need no download."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from kerastricks.data import load_dataset

# --------------------------------------------------------------------------- #
# mnist1d
# --------------------------------------------------------------------------- #


def test_mnist1d_shapes_and_labels(mnist1d_cached):
    ds, _ = mnist1d_cached
    assert ds.x_train.shape == (4000, 40, 1) and ds.x_test.shape == (1000, 40, 1)
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int32
    assert set(np.unique(ds.y_train)) == set(range(10)) == set(np.unique(ds.y_test))
    assert ds.num_classes == 10 and ds.class_names == [str(i) for i in range(10)]
    assert ds.meta["default_normalize"] == "none"
    json.dumps(ds.meta)


def test_mnist1d_equals_the_package_output(mnist1d_cached, mnist1d_reference):
    ds, _ = mnist1d_cached
    ref = mnist1d_reference
    np.testing.assert_array_equal(ds.x_train[..., 0], ref["x"].astype(np.float32))
    np.testing.assert_array_equal(ds.x_test[..., 0], ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, ref["y"])
    np.testing.assert_array_equal(ds.y_test, ref["y_test"])


def test_mnist1d_second_load_hits_the_cache(mnist1d_cached, monkeypatch):
    import mnist1d.data

    first, cache = mnist1d_cached
    monkeypatch.setenv("KERASTRICKS_CACHE_DIR", str(cache))

    def must_not_run(*args, **kwargs):
        raise AssertionError("make_dataset called although the cache holds the data")

    monkeypatch.setattr(mnist1d.data, "make_dataset", must_not_run)
    ds = load_dataset("mnist1d")
    assert ds.meta["cache_hit"] is True and first.meta["cache_hit"] is False
    np.testing.assert_array_equal(ds.x_train, first.x_train)
    np.testing.assert_array_equal(ds.y_test, first.y_test)
    files = sorted(p.name for p in (cache / "datasets").iterdir())
    assert len(files) == 1 and files[0].startswith("mnist1d-") and files[0].endswith(".npz")


def test_mnist1d_options_and_cache_file(private_cache):
    ds = load_dataset("mnist1d", {"num_samples": 100, "length": 12, "seed": 1})
    assert ds.x_train.shape == (80, 12, 1) and ds.x_test.shape == (20, 12, 1)
    other = load_dataset("mnist1d", {"num_samples": 100, "length": 12, "seed": 2})
    assert not np.array_equal(ds.x_train, other.x_train)
    # One file per option set, and no temp files left behind by the atomic writes.
    names = sorted(p.name for p in (private_cache / "datasets").iterdir())
    assert len(names) == 2 and all(n.startswith("mnist1d-") and n.endswith(".npz") for n in names)
    assert Path(ds.meta["cache_path"]).parent == private_cache / "datasets"


def test_mnist1d_corrupt_cache_is_regenerated(private_cache):
    options = {"num_samples": 40}
    first = load_dataset("mnist1d", options)
    path = Path(first.meta["cache_path"])
    path.write_bytes(b"this is not a zip file")
    again = load_dataset("mnist1d", options)
    assert again.meta["cache_hit"] is False
    np.testing.assert_array_equal(again.x_train, first.x_train)
    assert load_dataset("mnist1d", options).meta["cache_hit"] is True


def test_mnist1d_leaves_global_rng_untouched():
    np.random.seed(123)
    state = np.random.get_state()[1].copy()
    load_dataset("mnist1d", {"num_samples": 20})
    np.testing.assert_array_equal(np.random.get_state()[1], state)


def test_mnist1d_with_validation_split(mnist1d_cached, monkeypatch):
    _, cache = mnist1d_cached
    monkeypatch.setenv("KERASTRICKS_CACHE_DIR", str(cache))
    ds = load_dataset("mnist1d", validation_split=0.1, seed=5)
    assert (ds.n_train, ds.n_val, ds.n_test) == (3600, 400, 1000)
    assert ds.meta["validation_split"] == 0.1 and ds.meta["split_seed"] == 5


# --------------------------------------------------------------------------- #
# digits
# --------------------------------------------------------------------------- #


def test_digits_fixed_stratified_split():
    from sklearn.datasets import load_digits

    ref = load_digits()
    ds = load_dataset("digits")
    assert (ds.n_train, ds.n_test) == (1437, 360)
    assert ds.input_shape == (8, 8, 1) and ds.num_classes == 10
    assert ds.x_train.min() >= 0.0 and ds.x_train.max() <= 1.0
    totals = np.bincount(ref.target, minlength=10)
    test_counts = np.bincount(ds.y_test, minlength=10)
    assert np.all(np.abs(test_counts - totals * 360 / 1797) < 1)
    np.testing.assert_array_equal(np.bincount(ds.y_train, minlength=10) + test_counts, totals)
    # Pixels are the sklearn images / 16, labels stay with their images.
    flat = (ref.images / 16.0).astype(np.float32).reshape(len(ref.images), -1)
    lookup = {row.tobytes(): label for row, label in zip(flat, ref.target)}
    for x, y in zip(ds.x_test[:50], ds.y_test[:50]):
        assert lookup[x.reshape(-1).tobytes()] == y
    # Fixed: the run seed does not move the test set.
    np.testing.assert_array_equal(load_dataset("digits", seed=9).y_test, ds.y_test)
