"""Regression losses (``kerastricks.losses.regression``): ``Huber`` against its piecewise definition, with ``delta``
kept through config, serialization and a ``.keras`` save (Keras's own ``Huber`` drops it)."""

import keras
import numpy as np

from kerastricks.losses import build_loss


def test_huber_delta_is_passed_and_survives_serialization(tmp_path):
    loss = build_loss("huber", {"delta": 2.5}, task="regression")
    y, p = np.zeros((4, 1), "float32"), np.array([[0.5], [-1.0], [3.0], [-6.0]], "float32")
    # Huber reference: 0.5 e^2 for |e| <= delta, delta (|e| - delta / 2) beyond.
    e = np.abs(p - y)
    ref = np.where(e <= 2.5, 0.5 * e**2, 2.5 * (e - 1.25)).mean()
    np.testing.assert_allclose(float(loss(y, p)), ref, rtol=1e-6)
    # Keras's own Huber drops delta from its config; ours keeps it.
    config = loss.get_config()
    assert config["delta"] == 2.5
    assert type(loss).from_config(config).get_config() == config
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    np.testing.assert_allclose(float(revived(y, p)), ref, rtol=1e-6)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss=loss)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.loss.get_config()["delta"] == 2.5
