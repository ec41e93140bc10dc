"""Fixtures for the data tests: private caches, MNIST-1D once per session, file writers."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture(autouse=True)
def private_cache(tmp_path, monkeypatch):
    """Every data test gets its own kerastricks cache and an empty Keras home."""
    cache = tmp_path / "kt-cache"
    keras_home = tmp_path / "keras-home"
    keras_home.mkdir()
    monkeypatch.setenv("KERASTRICKS_CACHE_DIR", str(cache))
    monkeypatch.setenv("KERAS_HOME", str(keras_home))
    return cache


@pytest.fixture(scope="session")
def mnist1d_reference():
    """The package's own output with its defaults: the independent reference (~4 s)."""
    from mnist1d.data import get_dataset_args, make_dataset

    return make_dataset(get_dataset_args())


@pytest.fixture(scope="session")
def mnist1d_cached(tmp_path_factory):
    """``(dataset, cache_dir)``: MNIST-1D loaded once through kerastricks into a session cache."""
    from kerastricks.data.sources.embedded import load_mnist1d

    cache = tmp_path_factory.mktemp("mnist1d-cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KERASTRICKS_CACHE_DIR", str(cache))
        ds = load_mnist1d()
    return ds, cache


@pytest.fixture
def write_npz(tmp_path):
    def write(name: str = "data.npz", **arrays: np.ndarray) -> Path:
        path = tmp_path / name
        np.savez(path, **arrays)
        return path

    return write


@pytest.fixture
def write_csv(tmp_path):
    def write(rows: list[list[object]], name: str = "data.csv") -> Path:
        path = tmp_path / name
        with open(path, "w", newline="") as f:
            csv.writer(f).writerows(rows)
        return path

    return write


CLASS_COLORS = {"blue": (0, 0, 255), "green": (0, 255, 0), "red": (255, 0, 0)}


@pytest.fixture
def write_images():
    """Writer of ``per_class`` solid-color PNGs in one sub-folder per class.

    Returns the class -> RGB color table, so tests can check labels by color.
    """
    from PIL import Image

    def write(directory: Path, per_class: int, size=(6, 5)) -> dict[str, tuple[int, int, int]]:
        for name, color in CLASS_COLORS.items():
            sub = directory / name
            sub.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new("RGB", size, color).save(sub / f"{i}.png")
        return dict(CLASS_COLORS)

    return write
