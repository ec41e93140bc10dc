"""The ``keras.datasets`` names (MNIST, Fashion-MNIST, CIFAR-10/100): from the Keras cache or downloaded.

A download is tried only after a quick probe of the server, so a machine
without network fails at once with one line saying how to supply the data
offline (``npz:PATH``), instead of hanging.
"""

from __future__ import annotations

import os
import socket
import tempfile
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import numpy as np

from kerastricks.data.base import Dataset, ensure_channel_axis
from kerastricks.errors import DataError, shorten


@dataclass(frozen=True)
class _KerasSource:
    files: tuple[str, ...]  # all present under <keras home>/datasets = cached
    origin: str  # probed before a download, so a dead network fails fast
    class_names: tuple[str, ...] | None = None


_GCS = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
_KERAS_SOURCES = {
    "mnist": _KerasSource(("mnist.npz",), _GCS + "mnist.npz", tuple(str(i) for i in range(10))),
    "fashion_mnist": _KerasSource(
        tuple(
            f"fashion-mnist/{f}"
            for f in (
                "train-labels-idx1-ubyte.gz",
                "train-images-idx3-ubyte.gz",
                "t10k-labels-idx1-ubyte.gz",
                "t10k-images-idx3-ubyte.gz",
            )
        ),
        _GCS + "train-labels-idx1-ubyte.gz",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    ),
    "cifar10": _KerasSource(
        ("cifar-10-batches-py-target_archive",),
        "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    "cifar100": _KerasSource(
        ("cifar-100-python-target_archive",), "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"
    ),
}

PROBE_TIMEOUT_S = 5.0
"""Seconds to wait for a connection to a dataset's server before giving up."""


def keras_datasets_dir() -> Path:
    """Where ``keras.datasets`` keeps downloads: ``$KERAS_HOME/datasets`` or ``~/.keras/datasets``.

    Like Keras, falls back to ``/tmp/.keras`` when the home is not writable.
    """
    home = os.path.expanduser(os.environ.get("KERAS_HOME") or os.path.join("~", ".keras"))
    if not os.access(home, os.W_OK):
        home = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "datasets"


def _probe(url: str, timeout: float = PROBE_TIMEOUT_S) -> str:
    """``"reachable"``, ``"unreachable"`` (fails fast) or ``"timeout"`` (would hang)."""
    if urllib.request.getproxies():
        return "reachable"  # a proxy decides; let the download try
    host = urlsplit(url).hostname
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except TimeoutError:
        return "timeout"
    except OSError:
        return "unreachable"
    return "reachable"


def _keras_offline_error(name: str, reason: str | None = None) -> DataError:
    where = keras_datasets_dir()
    why = f" ({reason})" if reason else ""
    return DataError(
        f"dataset '{name}' is not in the Keras cache and cannot be downloaded{why}; "
        "supply it offline as npz:PATH with arrays x_train, y_train, x_test, y_test "
        f"(Keras looks in ~/.keras/datasets, or $KERAS_HOME/datasets; here {where})"
    )


def _load_keras(name: str, **kwargs: Any) -> Dataset:
    """Load ``keras.datasets.<name>`` without ever hanging on a dead network.

    A cached copy loads directly. Otherwise the server is probed first
    (:data:`PROBE_TIMEOUT_S`); a connection that would hang fails at once,
    and any failure of the download itself becomes one :class:`DataError`.
    """
    import keras

    source = _KERAS_SOURCES[name]
    cached = all((keras_datasets_dir() / f).exists() for f in source.files)
    if not cached and _probe(source.origin) == "timeout":
        raise _keras_offline_error(name, f"no answer from {urlsplit(source.origin).hostname}")
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras.datasets, name).load_data(**kwargs)
    except Exception as exc:  # download, checksum or unpacking failure
        reason = shorten(str(exc), 160) if str(exc).strip() else type(exc).__name__
        raise _keras_offline_error(name, reason) from None
    names = list(source.class_names) if source.class_names else None
    y_train = np.asarray(y_train).reshape(-1)
    y_test = np.asarray(y_test).reshape(-1)
    num_classes = len(names) if names else int(max(y_train.max(), y_test.max())) + 1
    return Dataset(
        name=name,
        x_train=ensure_channel_axis(np.asarray(x_train)),
        y_train=y_train,
        x_val=None,
        y_val=None,
        x_test=ensure_channel_axis(np.asarray(x_test)),
        y_test=y_test,
        task="classification",
        num_classes=num_classes,
        class_names=names or [str(i) for i in range(num_classes)],
        meta={
            "source": f"keras.datasets.{name}",
            "load_options": kwargs,
            "keras_cache": str(keras_datasets_dir()),
            "default_normalize": "scale255",
        },
    )


def load_mnist() -> Dataset:
    """MNIST from ``keras.datasets`` (Keras cache or download); ``(28, 28, 1)`` uint8 -> scale255."""
    return _load_keras("mnist")


def load_fashion_mnist() -> Dataset:
    """Fashion-MNIST from ``keras.datasets``; ``(28, 28, 1)`` uint8 -> scale255."""
    return _load_keras("fashion_mnist")


def load_cifar10() -> Dataset:
    """CIFAR-10 from ``keras.datasets``; ``(32, 32, 3)`` uint8 -> scale255."""
    return _load_keras("cifar10")


def load_cifar100(*, label_mode: Literal["fine", "coarse"] = "fine") -> Dataset:
    """CIFAR-100 from ``keras.datasets``; ``(32, 32, 3)`` uint8 -> scale255.

    Args:
        label_mode: ``"fine"`` (100 classes) or ``"coarse"`` (20 superclasses).
    """
    return _load_keras("cifar100", label_mode=label_mode)


__all__ = [
    "PROBE_TIMEOUT_S",
    "keras_datasets_dir",
    "load_cifar10",
    "load_cifar100",
    "load_fashion_mnist",
    "load_mnist",
]
