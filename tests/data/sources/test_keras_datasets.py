"""keras.datasets names: the Keras cache, downloads, and a dead network."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from kerastricks.data import load_dataset
from kerastricks.data.sources import keras_datasets as kds
from kerastricks.errors import DataError


def one_line(err: BaseException) -> str:
    text = str(err)
    assert text.strip() and "\n" not in text, text
    return text


# --------------------------------------------------------------------------- #
# keras.datasets
# --------------------------------------------------------------------------- #


def _touch_keras_cache(*files: str) -> None:
    for name in files:
        path = kds.keras_datasets_dir() / name
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
    if kds._probe(kds._KERAS_SOURCES["mnist"].origin, timeout=2.0) == "reachable":
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

    monkeypatch.setattr(kds, "_probe", lambda url, timeout=kds.PROBE_TIMEOUT_S: "timeout")
    monkeypatch.setattr(keras.datasets.fashion_mnist, "load_data", must_not_download)
    with pytest.raises(DataError) as info:
        load_dataset("fashion_mnist")
    text = one_line(info.value)
    assert "fashion_mnist" in text and "no answer" in text and "npz:PATH" in text


def test_keras_download_failure_becomes_a_data_error(monkeypatch):
    import keras

    def fail(label_mode="fine"):
        raise Exception("URL fetch failure on https://example.invalid: None -- [Errno -2]\nName or service")

    monkeypatch.setattr(kds, "_probe", lambda url, timeout=kds.PROBE_TIMEOUT_S: "unreachable")
    monkeypatch.setattr(keras.datasets.cifar100, "load_data", fail)
    with pytest.raises(DataError) as info:
        load_dataset("cifar100", {"label_mode": "coarse"})
    text = one_line(info.value)
    assert "cifar100" in text and "URL fetch failure" in text
