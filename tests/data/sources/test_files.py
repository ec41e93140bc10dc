"""npz:PATH, csv:PATH and folder:PATH, on files the tests write themselves."""

from __future__ import annotations

import numpy as np
import pytest

from kerastricks.data import load_dataset
from kerastricks.errors import DataError


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text.strip() and "\n" not in text, text
    return text


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
