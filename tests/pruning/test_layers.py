"""``PruneLowMagnitude``: pruned weights stay exactly zero after every step (every optimizer family, gradient
accumulation), the mask follows the schedule, config and save/load round-trip in a fresh process, bad arguments."""

import copy
import subprocess
import sys

import keras
import numpy as np
import pytest

import kerastricks as kt
from kerastricks.errors import ConfigError
from kerastricks.pruning import PruneLowMagnitude, prune_model


class ZerosAfterEveryStep(keras.callbacks.Callback):
    """After each batch: stored kernel entries where the mask is 0 are exactly 0; the mask's zero count."""

    def __init__(self):
        super().__init__()
        self.violations, self.zeros = [], []

    def on_train_batch_end(self, batch, logs=None):
        counts = []
        for layer in self.model.layers:
            if isinstance(layer, PruneLowMagnitude):
                kernel, mask = layer.layer.kernel.numpy(), layer.mask.numpy()
                self.violations.append(float(np.abs(kernel[mask == 0]).max(initial=0.0)))
                counts.append(int((mask == 0).sum()))
        self.zeros.append(counts)


OPTIMIZERS = {
    "adam": lambda: keras.optimizers.Adam(0.01),
    "sgd_momentum": lambda: keras.optimizers.SGD(0.05, momentum=0.9),
    "adamw": lambda: keras.optimizers.AdamW(0.01, weight_decay=0.1),
    "adam_accumulate_2": lambda: keras.optimizers.Adam(0.01, gradient_accumulation_steps=2),
    "kt_adafactor": lambda: kt.optimizers.Adafactor(learning_rate=0.01),
    "kt_agc_adam": lambda: kt.optimizers.AdaptiveGradientClipping(keras.optimizers.Adam(0.01)),
}


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_pruned_weights_stay_exactly_zero_after_every_step(name, zhu_gupta, mlp, data):
    x, y = data()
    model = prune_model(mlp(), final_sparsity=0.75, initial_sparsity=0.1, begin_step=2, end_step=14, frequency=4)
    model.compile(OPTIMIZERS[name](), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = ZerosAfterEveryStep()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[probe], verbose=0)  # 24 steps
    assert max(probe.violations) == 0.0  # exact zeros, not small ones
    # the mask's zero count follows the schedule at the update steps 2, 6, 10, 14 (and stays after)
    n = 6 * 24  # the first wrapped layer, "hidden"
    expected = []
    for t in range(24):
        last = max([u for u in (2, 6, 10, 14) if u <= t], default=None)
        expected.append(0 if last is None else int(np.floor(np.float32(zhu_gupta(last, 0.1, 0.75, 2, 14)) * n)))
    assert [z[0] for z in probe.zeros] == expected
    assert int(model.get_layer("hidden_pruned").pruning_step.numpy()) == 24


def test_config_round_trip_and_save_load_in_a_fresh_process(tmp_path, mlp, data):
    x, y = data()
    model = prune_model(mlp(), final_sparsity=0.5, begin_step=0, end_step=6, frequency=3)
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)
    layer = model.get_layer("hidden_pruned")
    config = layer.get_config()
    assert PruneLowMagnitude.from_config(copy.deepcopy(config)).get_config() == config
    path = tmp_path / "pruned.keras"
    model.save(path)
    want = model.predict(x, verbose=0)
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "want.npy", want)
    code = f"""
import numpy as np, keras, kerastricks
model = keras.models.load_model({str(path)!r})
x = np.load({str(tmp_path / 'x.npy')!r})
np.testing.assert_allclose(model.predict(x, verbose=0), np.load({str(tmp_path / 'want.npy')!r}), rtol=1e-6)
layer = model.get_layer("hidden_pruned")
mask, kernel = layer.mask.numpy(), layer.layer.kernel.numpy()
assert (mask == 0).sum() == 72 and np.all(kernel[mask == 0] == 0) and int(layer.pruning_step.numpy()) == 12
# training after loading keeps the pruned weights at exactly zero
model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
model.fit(x, (x[:, 0] > 0).astype("int32"), batch_size=8, epochs=1, verbose=0)
assert np.all(layer.layer.kernel.numpy()[layer.mask.numpy() == 0] == 0)
print("ok")
"""
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert proc.stdout.strip().endswith("ok"), proc.stderr[-2000:]


def test_bad_arguments_name_the_argument():
    with pytest.raises(ConfigError, match="final_sparsity"):
        PruneLowMagnitude(keras.layers.Dense(2), initial_sparsity=0.5, final_sparsity=0.2)
    with pytest.raises(ConfigError, match="layer"):
        PruneLowMagnitude(keras.layers.BatchNormalization())


def test_two_four_structure_holds_through_training_and_save_load(tmp_path, mlp, data):
    x, y = data()
    model = prune_model(mlp(), ["hidden2"], structure="2:4", begin_step=2, end_step=10, frequency=4)
    model.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    probe = ZerosAfterEveryStep()
    model.fit(x, y, batch_size=4, epochs=1, shuffle=False, callbacks=[probe], verbose=0)  # 24 steps
    assert max(probe.violations) == 0.0
    assert [z[0] for z in probe.zeros] == [0, 0] + [24 * 24 // 2] * 22  # all at begin_step: 2 of every 4
    layer = model.get_layer("hidden2_pruned")
    mask = layer.mask.numpy()
    np.testing.assert_array_equal(mask.reshape(6, 4, 24).sum(axis=1), 2)  # groups of 4 consecutive inputs
    assert layer.get_config()["structure"] == "2:4"
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("hidden2_pruned").structure == "2:4"
    np.testing.assert_array_equal(loaded.get_layer("hidden2_pruned").mask.numpy(), mask)


def test_bad_structures_name_the_argument(mlp):
    with pytest.raises(ConfigError) as info:
        prune_model(mlp(), ["hidden"], structure="2:4")  # 6 inputs: not a multiple of 4
    assert info.value.key == "structure" and "'hidden'" in info.value.line() and "(6, 24)" in info.value.line()
    with pytest.raises(ConfigError, match="structure"):
        PruneLowMagnitude(keras.layers.Dense(2), structure="4:2")
    with pytest.raises(ConfigError, match="scope"):
        PruneLowMagnitude(keras.layers.Dense(2), structure="2:4", scope="global")
