"""The dataset registry and ``load_dataset``: names, options, splits; the loaders have tests under sources/."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from kerastricks.data import DATASETS, Dataset, load_dataset, register_dataset
from kerastricks.errors import ConfigError
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


def test_built_in_loaders_are_imported_on_first_use():
    """Listing the registry imports no loader module; each entry's target resolves to a loader."""
    import subprocess

    code = ("import sys; from kerastricks.data import DATASETS; DATASETS.names(); "
            "print(sorted(m for m in sys.modules if m.startswith('kerastricks.data.sources.') or m == 'tensorflow'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    from kerastricks.data.datasets import _BUILTIN

    for name in _BUILTIN:
        loader = DATASETS.get(name).obj
        assert callable(loader) and loader.__module__.startswith("kerastricks.data.sources."), name
