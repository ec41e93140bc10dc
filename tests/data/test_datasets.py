"""Dataset loaders by name, on files the tests write themselves."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from kerastricks.data import DATASETS, Dataset, load_dataset, register_dataset
from kerastricks.data import datasets as dsmod
from kerastricks.errors import ConfigError, DataError
from kerastricks.validation import PositiveInt


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text.strip() and "\n" not in text, text
    return text


# --------------------------------------------------------------------------- #
# Registry and option validation
# --------------------------------------------------------------------------- #


def test_registry_lists_every_name_with_a_description():
    names = DATASETS.names()
    for name in ["mnist1d", "digits", "mnist", "fashion_mnist", "cifar10", "cifar100",
                 "npz:PATH", "csv:PATH", "folder:PATH"]:
        assert name in names
    assert all(entry.description for entry in DATASETS)


def test_unknown_name_suggests_the_close_one():
    with pytest.raises(ConfigError) as info:
        load_dataset("mnist1", file="recipe.toml")
    text = one_line(info.value)
    assert "recipe.toml" in text and "data.name" in text and "did you mean 'mnist1d'?" in text
    assert info.value.key == "data.name"


def test_bare_file_name_hints_at_prefix_form():
    with pytest.raises(ConfigError) as info:
        load_dataset("train.npz")
    assert "npz:train.npz" in one_line(info.value)


def test_literal_path_placeholder_is_rejected():
    with pytest.raises(ConfigError) as info:
        load_dataset("npz:PATH", file="r.toml")
    assert "data.name" in one_line(info.value)


def test_unknown_option_names_the_key_and_file():
    with pytest.raises(ConfigError) as info:
        load_dataset("mnist1d", {"num_sample": 100}, file="recipe.toml")
    text = one_line(info.value)
    assert "recipe.toml" in text and "data.num_sample" in text and "num_samples" in text


@pytest.mark.parametrize(
    "name, options, key",
    [
        ("mnist1d", {"num_samples": 10}, "data.num_samples"),
        ("mnist1d", {"length": 0}, "data.length"),
        ("cifar100", {"label_mode": "medium"}, "data.label_mode"),
        ("csv:x.csv", {"test_fraction": 1.0}, "data.test_fraction"),
        ("folder:imgs", {"image_size": [32]}, "data.image_size"),
        ("folder:imgs", {"color_mode": "cmyk"}, "data.color_mode"),
        ("npz:x.npz", {"task": "ranking"}, "data.task"),
    ],
)
def test_option_values_are_validated_before_loading(name, options, key):
    with pytest.raises(ConfigError) as info:
        load_dataset(name, options, file="recipe.toml")
    text = one_line(info.value)
    assert key in text and "recipe.toml" in text


def test_load_arguments_are_validated_before_loading():
    with pytest.raises(ConfigError) as info:
        load_dataset("digits", validation_split=1.0, file="r.toml")
    assert "data.validation_split" in one_line(info.value)
    with pytest.raises(ConfigError) as info:
        load_dataset("digits", normalize="zscore", file="r.toml")
    assert "data.normalize" in one_line(info.value)


def test_names_are_case_insensitive():
    assert load_dataset("DIGITS").name == "digits"


def test_register_dataset_for_own_loaders(tmp_path):
    name = "test_toy_blobs"
    if name not in DATASETS:

        @register_dataset(name, description="two blobs for tests")
        def load_toy(*, n: PositiveInt = 10) -> Dataset:
            x = np.concatenate([np.zeros((n, 2)), np.ones((n, 2))])
            y = np.repeat([0, 1], n)
            return Dataset("toy", x, y, None, None, x, y, "classification", 2, ["a", "b"], {})

    ds = load_dataset("test-toy-blobs", {"n": 5}, validation_split=0.2)
    assert (ds.n_train, ds.n_val) == (8, 2)
    np.testing.assert_array_equal(np.bincount(ds.y_val), [1, 1])
    with pytest.raises(ConfigError) as info:
        load_dataset(name, {"n": 0})
    assert "data.n" in one_line(info.value)


def test_register_prefix_form_passes_the_path(tmp_path):
    if "testecho:PATH" not in DATASETS:

        @register_dataset("testecho:PATH", description="echoes its path")
        def load_echo(path: str, *, scale: float = 1.0) -> Dataset:
            x = np.full((4, 1), float(len(path)) * scale)
            y = np.arange(4) % 2
            return Dataset(f"testecho:{path}", x, y, None, None, x, y, "classification", 2, None, {})

    ds = load_dataset("TestEcho:abc", {"scale": 2.0})
    assert ds.name == "testecho:abc"
    np.testing.assert_allclose(ds.x_train, 6.0)


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


# --------------------------------------------------------------------------- #
# npz:PATH
# --------------------------------------------------------------------------- #


def test_npz_uint8_images_classification(write_npz):
    rng = np.random.default_rng(0)
    x_train = rng.integers(0, 256, (30, 6, 5), dtype=np.uint8)
    x_test = rng.integers(0, 256, (10, 6, 5), dtype=np.uint8)
    path = write_npz(x_train=x_train, y_train=np.arange(30) % 3, x_test=x_test, y_test=np.arange(10) % 3,
                     notes=np.zeros(2))
    ds = load_dataset(f"npz:{path}")
    assert ds.task == "classification" and ds.num_classes == 3
    assert ds.input_shape == (6, 5, 1)
    assert ds.meta["default_normalize"] == "scale255"
    np.testing.assert_allclose(ds.x_train[..., 0], x_train / 255.0, rtol=1e-6)
    assert ds.class_names == ["0", "1", "2"]


def test_npz_one_hot_labels_become_integers(write_npz):
    y = np.eye(4)[[0, 3, 1, 3, 2, 0]]
    path = write_npz(x_train=np.ones((6, 2)), y_train=y, x_test=np.ones((6, 2)), y_test=y)
    ds = load_dataset(f"npz:{path}", normalize="none")
    np.testing.assert_array_equal(ds.y_train, [0, 3, 1, 3, 2, 0])
    assert ds.num_classes == 4 and ds.y_train.dtype == np.int32


def test_npz_float_targets_are_regression(write_npz):
    rng = np.random.default_rng(1)
    x_train, x_test = rng.normal(5, 2, (40, 3)), rng.normal(5, 2, (10, 3))
    path = write_npz(x_train=x_train, y_train=rng.normal(size=40), x_test=x_test, y_test=rng.normal(size=10))
    ds = load_dataset(f"npz:{path}")
    assert ds.task == "regression" and ds.num_classes is None and ds.output_dim == 1
    assert ds.input_shape == (3,) and ds.y_train.dtype == np.float32
    # "auto" standardizes non-uint8 inputs with train statistics.
    np.testing.assert_allclose(ds.x_test, (x_test - x_train.mean(0)) / x_train.std(0), rtol=1e-4, atol=1e-5)


def test_npz_task_and_num_classes_options(write_npz):
    path = write_npz(x_train=np.ones((6, 2)), y_train=np.array([0, 1, 2, 0, 1, 2]),
                     x_test=np.ones((2, 2)), y_test=np.array([0, 1]))
    assert load_dataset(f"npz:{path}", {"num_classes": 5}).num_classes == 5
    assert load_dataset(f"npz:{path}", {"task": "regression"}).task == "regression"
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{path}", {"num_classes": 2})
    text = one_line(info.value)
    assert str(path) in text and "data.num_classes" in text


def test_npz_sequences_can_keep_their_shape(write_npz):
    path = write_npz(x_train=np.ones((4, 7, 3)), y_train=np.arange(4) % 2,
                     x_test=np.ones((2, 7, 3)), y_test=np.array([0, 1]))
    assert load_dataset(f"npz:{path}").input_shape == (7, 3, 1)
    assert load_dataset(f"npz:{path}", {"add_channel_axis": False}).input_shape == (7, 3)


def test_npz_relative_path_is_relative_to_cwd(write_npz, tmp_path, monkeypatch):
    write_npz(x_train=np.ones((4, 2)), y_train=np.arange(4) % 2, x_test=np.ones((2, 2)), y_test=np.array([0, 1]))
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("npz:data.npz")
    assert ds.name == "npz:data.npz" and ds.n_train == 4


def test_npz_missing_file(tmp_path):
    path = tmp_path / "nope.npz"
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{path}")
    text = one_line(info.value)
    assert str(path) in text and "not found" in text


def test_npz_missing_key_names_file_key_and_found_keys(write_npz):
    path = write_npz(x_train=np.ones((4, 2)), y_train=np.zeros(4), x_test=np.ones((2, 2)), labels=np.zeros(2))
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{path}")
    text = one_line(info.value)
    assert str(path) in text and "'y_test'" in text and "labels" in text and "x_train" in text


def test_npz_corrupt_file(tmp_path):
    path = tmp_path / "broken.npz"
    path.write_bytes(b"PK\x03\x04 definitely not a complete archive")
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{path}")
    assert str(path) in one_line(info.value)
    text_file = tmp_path / "notes.npz"
    text_file.write_text("hello")
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{text_file}")
    assert str(text_file) in one_line(info.value)


def test_npz_single_npy_array_is_rejected(tmp_path):
    path = tmp_path / "x.npz"
    with open(path, "wb") as f:
        np.save(f, np.zeros(3))
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{path}")
    assert ".npy" in one_line(info.value)


@pytest.mark.parametrize(
    "arrays, words",
    [
        (dict(x_train=np.ones((5, 2)), y_train=np.zeros(4), x_test=np.ones((2, 2)), y_test=np.zeros(2)),
         "x_train and y_train"),
        (dict(x_train=np.ones((4, 2)), y_train=np.zeros(4), x_test=np.ones((2, 3)), y_test=np.zeros(2)),
         "differ in shape"),
        (dict(x_train=np.ones((4, 2)), y_train=np.array([0, -1, 1, 0]), x_test=np.ones((2, 2)),
              y_test=np.zeros(2, int)), ">= 0"),
    ],
)
def test_npz_inconsistent_arrays(write_npz, arrays, words):
    path = write_npz(**arrays)
    with pytest.raises(DataError) as info:
        load_dataset(f"npz:{path}", {"task": "classification"})
    text = one_line(info.value)
    assert str(path) in text and words in text


# --------------------------------------------------------------------------- #
# csv:PATH
# --------------------------------------------------------------------------- #


def test_csv_integer_labels(write_csv):
    rows = [["id", "f1", "label"]] + [[i, i * 0.5, i % 3] for i in range(30)]
    path = write_csv(rows)
    ds = load_dataset(f"csv:{path}", normalize="none")
    assert ds.task == "classification" and ds.num_classes == 3
    assert (ds.n_train, ds.n_test) == (24, 6) and ds.input_shape == (2,)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [2, 2, 2])
    # Rows stay intact: feature id -> label id % 3 and f1 = id / 2.
    for x, y in zip(np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])):
        assert int(x[0]) % 3 == y and x[1] == x[0] * 0.5
    assert ds.meta["features"] == ["id", "f1"]


def test_csv_string_labels_get_sorted_class_names(write_csv):
    species = ["setosa", "virginica", "versicolor"]
    rows = [["a", "b", "species"]] + [[i, -i, species[i % 3]] for i in range(15)]
    ds = load_dataset(f"csv:{write_csv(rows)}", {"label_column": "species"}, normalize="none")
    assert ds.class_names == ["setosa", "versicolor", "virginica"]
    for x, y in zip(ds.x_train, ds.y_train):
        assert ds.class_names[y] == species[int(x[0]) % 3]


def test_csv_regression_targets(write_csv):
    rows = [["x1", "x2", "target"]] + [[i, i * i, i * 0.25 + 0.1] for i in range(20)]
    ds = load_dataset(f"csv:{write_csv(rows)}", {"label_column": "target", "test_fraction": 0.25})
    assert ds.task == "regression" and ds.output_dim == 1
    assert (ds.n_train, ds.n_test) == (15, 5)
    assert ds.meta["normalization"]["method"] == "standard"
    forced = load_dataset(f"csv:{write_csv(rows)}", {"label_column": "x1", "task": "regression"})
    assert forced.task == "regression"


def test_csv_missing_label_column_lists_columns(write_csv):
    path = write_csv([["a", "b", "target"], [1, 2, 3], [4, 5, 6]])
    with pytest.raises(DataError) as info:
        load_dataset(f"csv:{path}")
    text = one_line(info.value)
    assert str(path) in text and "'label'" in text and "a, b, target" in text


def test_csv_non_numeric_feature_names_line_and_column(write_csv):
    rows = [["w", "h", "label"], [1, 2, 0], [3, 4, 1], [5, "tall", 0], [6, 7, 1]]
    path = write_csv(rows)
    with pytest.raises(DataError) as info:
        load_dataset(f"csv:{path}")
    text = one_line(info.value)
    assert str(path) in text and "line 4" in text and "'h'" in text and "tall" in text


def test_csv_ragged_and_empty_files(write_csv, tmp_path):
    path = write_csv([["a", "label"], [1, 0], [2, 1, 9]])
    with pytest.raises(DataError) as info:
        load_dataset(f"csv:{path}")
    assert "line 3" in one_line(info.value)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(DataError) as info:
        load_dataset(f"csv:{empty}")
    assert str(empty) in one_line(info.value)
    with pytest.raises(DataError) as info:
        load_dataset(f"csv:{tmp_path / 'missing.csv'}")
    assert "missing.csv" in one_line(info.value)


# --------------------------------------------------------------------------- #
# folder:PATH
# --------------------------------------------------------------------------- #


def _check_colors(ds, colors):
    for x, y in zip(np.concatenate([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])):
        expected = np.asarray(colors[ds.class_names[y]], np.float32) / 255.0
        np.testing.assert_allclose(x.reshape(-1, x.shape[-1]).mean(axis=0), expected, atol=1e-6)


def test_folder_with_train_and_test_subfolders(tmp_path, write_images):
    colors = write_images(tmp_path / "imgs" / "train", per_class=3)
    write_images(tmp_path / "imgs" / "test", per_class=1)
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}", {"image_size": [4, 4]})
    assert ds.class_names == ["blue", "green", "red"] and ds.num_classes == 3
    assert (ds.n_train, ds.n_test) == (9, 3) and ds.input_shape == (4, 4, 3)
    assert ds.meta["layout"] == "train/test"
    _check_colors(ds, colors)


def test_folder_single_layout_splits_a_stratified_test_set(tmp_path, write_images):
    colors = write_images(tmp_path / "imgs", per_class=5)
    ds = load_dataset(f"folder:{tmp_path / 'imgs'}", {"image_size": [3, 2], "test_fraction": 0.2})
    assert (ds.n_train, ds.n_test) == (12, 3) and ds.input_shape == (3, 2, 3)
    np.testing.assert_array_equal(np.bincount(ds.y_test), [1, 1, 1])
    _check_colors(ds, colors)
    gray = load_dataset(f"folder:{tmp_path / 'imgs'}", {"image_size": [3, 2], "color_mode": "grayscale"})
    assert gray.input_shape == (3, 2, 1)


def test_folder_missing_or_empty(tmp_path):
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{tmp_path / 'nowhere'}")
    assert "nowhere" in one_line(info.value)
    (tmp_path / "empty" / "cats").mkdir(parents=True)
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{tmp_path / 'empty'}")
    text = one_line(info.value)
    assert "empty" in text and "no images" in text


def test_folder_undecodable_image_is_named(tmp_path, write_images):
    write_images(tmp_path / "imgs", per_class=2)
    bad = tmp_path / "imgs" / "red" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{tmp_path / 'imgs'}")
    assert str(bad) in one_line(info.value)


def test_folder_test_classes_must_match_train(tmp_path, write_images):
    write_images(tmp_path / "imgs" / "train", per_class=2)
    write_images(tmp_path / "imgs" / "test", per_class=1)
    (tmp_path / "imgs" / "test" / "purple").mkdir()
    with pytest.raises(DataError) as info:
        load_dataset(f"folder:{tmp_path / 'imgs'}")
    text = one_line(info.value)
    assert str(tmp_path / "imgs" / "test") in text and "purple" in text


# --------------------------------------------------------------------------- #
# keras.datasets
# --------------------------------------------------------------------------- #


def _touch_keras_cache(*files: str) -> None:
    for name in files:
        path = dsmod.keras_datasets_dir() / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")


def test_keras_mnist_success_path(monkeypatch):
    import keras

    rng = np.random.default_rng(0)
    train = (rng.integers(0, 256, (12, 28, 28), dtype=np.uint8), rng.integers(0, 10, 12).astype(np.uint8))
    test = (rng.integers(0, 256, (4, 28, 28), dtype=np.uint8), rng.integers(0, 10, 4).astype(np.uint8))
    monkeypatch.setattr(keras.datasets.mnist, "load_data", lambda: (train, test))
    _touch_keras_cache("mnist.npz")
    ds = load_dataset("mnist", validation_split=0.25)
    assert ds.input_shape == (28, 28, 1) and ds.num_classes == 10
    assert (ds.n_train, ds.n_val, ds.n_test) == (9, 3, 4)
    np.testing.assert_allclose(ds.x_test[..., 0], test[0] / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y_test, test[1])
    assert ds.meta["normalization"]["method"] == "scale255"


def test_keras_cifar10_labels_are_flattened(monkeypatch):
    import keras

    x = np.zeros((6, 32, 32, 3), np.uint8)
    y = (np.arange(6) % 10).reshape(6, 1).astype(np.uint8)
    monkeypatch.setattr(keras.datasets.cifar10, "load_data", lambda: ((x, y), (x, y)))
    _touch_keras_cache("cifar-10-batches-py-target_archive")
    ds = load_dataset("cifar10")
    assert ds.y_train.shape == (6,) and ds.input_shape == (32, 32, 3)
    assert ds.class_names[:2] == ["airplane", "automobile"]


def test_keras_dataset_offline_for_real():
    """No cached file under an empty KERAS_HOME and no network: one clear line, fast."""
    if dsmod._probe(dsmod._KERAS_SOURCES["mnist"].origin, timeout=2.0) == "reachable":
        pytest.skip("network reachable: the download would succeed")
    if (Path.home() / ".keras" / "datasets" / "mnist.npz").exists():
        pytest.skip("MNIST is in the real Keras cache")
    start = time.perf_counter()
    with pytest.raises(DataError) as info:
        load_dataset("mnist")
    elapsed = time.perf_counter() - start
    text = one_line(info.value)
    assert "dataset 'mnist' is not in the Keras cache and cannot be downloaded" in text
    assert "npz:PATH" in text and "x_train, y_train, x_test, y_test" in text and "~/.keras/datasets" in text
    # Measured at ~0.05 s here (DNS fails at once); the probe bounds a silent network to 5 s.
    assert elapsed < 30


def test_keras_dataset_never_hangs_on_a_silent_network(monkeypatch):
    import keras

    def must_not_download():
        raise AssertionError("download attempted although the server does not answer")

    monkeypatch.setattr(dsmod, "_probe", lambda url, timeout=dsmod.PROBE_TIMEOUT_S: "timeout")
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", must_not_download)
    with pytest.raises(DataError) as info:
        load_dataset("fashion_mnist")
    text = one_line(info.value)
    assert "fashion_mnist" in text and "no answer" in text and "npz:PATH" in text


def test_keras_download_failure_becomes_a_data_error(monkeypatch):
    import keras

    def fail(label_mode="fine"):
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -2]\nName or service")

    monkeypatch.setattr(dsmod, "_probe", lambda url, timeout=dsmod.PROBE_TIMEOUT_S: "unreachable")
    monkeypatch.setattr(keras.datasets.cifar100, "load_data", fail)
    with pytest.raises(DataError) as info:
        load_dataset("cifar100", {"label_mode": "coarse"})
    text = one_line(info.value)
    assert "cifar100" in text and "URL fetch failure" in text
