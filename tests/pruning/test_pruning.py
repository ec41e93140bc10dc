"""Magnitude pruning: the Zhu & Gupta schedule against its formula in numpy, exact-k masks, pruned weights that
stay exactly zero through training (every optimizer family, gradient accumulation), save/load and stripping."""

import copy
import subprocess
import sys

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import kerastricks as kt
from kerastricks.errors import ConfigError
from kerastricks.pruning import (
    PruneLowMagnitude,
    default_layers,
    link_pruning,
    magnitude_mask,
    polynomial_sparsity,
    prune_model,
    prune_weights,
    pruning_due,
    sparsity_summary,
    strip_pruning,
)


def zhu_gupta(t, s_i, s_f, t0, t1, power=3.0):
    """Zhu & Gupta 2017, eq. 1, written from the paper: s_t = s_f + (s_i - s_f)(1 - (t - t0)/(n dt))^3."""
    if t < t0:
        return 0.0
    if t >= t1:
        return s_f
    return s_f + (s_i - s_f) * (1.0 - (t - t0) / (t1 - t0)) ** power


@settings(max_examples=60, deadline=None)
@given(s_i=st.floats(0, 0.5), ds=st.floats(0, 0.49), t0=st.integers(0, 50), span=st.integers(1, 200),
       t=st.integers(0, 300))
def test_schedule_matches_the_formula(s_i, ds, t0, span, t):
    s_f = s_i + ds
    got = float(keras.ops.convert_to_numpy(polynomial_sparsity(t, s_i, s_f, t0, t0 + span)))
    # float32 arithmetic of values in [0, 1): 1e-6
    assert got == pytest.approx(zhu_gupta(t, s_i, s_f, t0, t0 + span), abs=1e-6)


def test_schedule_is_monotone_with_exact_ends():
    steps = np.arange(0, 120)
    s = keras.ops.convert_to_numpy(polynomial_sparsity(steps, 0.1, 0.9, 10, 100))
    assert s[9] == 0.0 and s[10] == pytest.approx(0.1) and s[100] == pytest.approx(0.9) and s[119] == pytest.approx(0.9)
    assert np.all(np.diff(s[10:]) >= 0)
    # the cubic prunes fast first: half of the way in time is 7/8 of the way in sparsity
    assert s[55] == pytest.approx(0.9 - 0.8 * 0.5**3, abs=1e-6)


def test_updates_fall_on_the_frequency_grid_and_the_last_step():
    due = keras.ops.convert_to_numpy(pruning_due(np.arange(0, 40), 5, 27, 10))
    assert np.flatnonzero(due).tolist() == [5, 15, 25, 27]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 200), s=st.floats(0, 0.999), seed=st.integers(0, 2**16))
def test_mask_drops_exactly_the_k_smallest(n, s, seed):
    w = np.random.default_rng(seed).normal(size=n).astype("float32")
    mask = keras.ops.convert_to_numpy(magnitude_mask(np.abs(w), s))
    k = int(np.floor(np.float32(s) * np.float32(n)))
    assert set(np.unique(mask)) <= {0.0, 1.0}
    assert int((mask == 0).sum()) == k
    if 0 < k < n:  # every kept weight is at least as large as every dropped one
        assert np.abs(w[mask == 1]).min() >= np.abs(w[mask == 0]).max()


def mlp(seed=0):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((6,))
    x = keras.layers.Dense(24, activation="relu", name="hidden")(inputs)
    x = keras.layers.Dense(24, activation="relu", name="hidden2")(x)
    return keras.Model(inputs, keras.layers.Dense(3, name="logits")(x))


def data(n=96):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 6)).astype("float32")
    return x, (x[:, 0] > 0).astype("int32") + (x[:, 1] > 0).astype("int32")


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
def test_pruned_weights_stay_exactly_zero_after_every_step(name):
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


def test_default_layers_skip_the_first_conv_and_the_classifier():
    inputs = keras.Input((16, 1))
    x = keras.layers.Conv1D(4, 3, name="stem")(inputs)
    x = keras.layers.Conv1D(4, 3, name="body")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    x = keras.layers.Dense(8, name="fc")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, name="classifier")(x))
    assert default_layers(model) == ["body", "fc"]
    with pytest.raises(ConfigError, match="matches no layer.*received nope"):
        prune_model(model, ["nope"])
    with pytest.raises(ConfigError, match="cannot be pruned"):
        prune_model(model, ["global*"])


def test_global_scope_ranks_all_layers_together():
    model = mlp()
    big = model.get_layer("hidden2")
    big.kernel.assign(big.kernel.numpy() * 10)  # a layer with large weights loses fewer of them
    pruned = prune_model(model, ["hidden", "hidden2"], final_sparsity=0.6, end_step=0, scope="global")
    x, y = data(8)
    pruned.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    pruned.fit(x, y, batch_size=8, epochs=1, verbose=0)  # step 0 = end_step: one update to s_f
    kernels = [model.get_layer(n).kernel.numpy() for n in ("hidden", "hidden2")]
    flat = np.concatenate([np.abs(k).ravel() for k in kernels])
    k = int(np.floor(np.float32(0.6) * flat.size))
    threshold = np.sort(flat)[k - 1]  # numpy reference: one threshold over both kernels (no ties here)
    for name, kernel in zip(("hidden", "hidden2"), kernels):
        mask = pruned.get_layer(f"{name}_pruned").mask.numpy()
        np.testing.assert_array_equal(mask, (np.abs(kernel) > threshold).astype("float32"))
    summary = sparsity_summary(pruned)
    assert summary["overall"] == pytest.approx(k / flat.size)
    assert summary["layers"]["hidden"] > 0.6 > summary["layers"]["hidden2"]


def test_config_round_trip_and_save_load_in_a_fresh_process(tmp_path):
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


def test_strip_pruning_gives_plain_keras_layers_with_the_same_outputs():
    x, y = data()
    model = prune_model(mlp(), final_sparsity=0.5, end_step=0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    stripped = strip_pruning(model)
    assert [type(layer).__module__.split(".")[0] for layer in stripped.layers] == ["keras"] * 4
    assert [layer.name for layer in stripped.layers][1:] == ["hidden", "hidden2", "logits"]
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert sparsity_summary(stripped)["layers"]["hidden"] == pytest.approx(72 / 144)


def test_global_wrappers_must_be_linked_after_loading(tmp_path):
    model = prune_model(mlp(), ["hidden", "hidden2"], final_sparsity=0.5, end_step=0, scope="global")
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras")
    loaded.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = data(8)
    with pytest.raises(ValueError, match="link_pruning"):
        loaded.fit(x, y, verbose=0)
    assert len(link_pruning(loaded)) == 2
    loaded.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loaded.fit(x, y, verbose=0)
    assert sparsity_summary(loaded)["overall"] == pytest.approx(0.5, abs=1 / 600)


def test_one_shot_prune_weights_and_bad_arguments():
    model = mlp()
    pruned = prune_weights(model, 0.9)
    summary = sparsity_summary(pruned)["layers"]
    # an MLP has no conv: only the classifier is skipped by default
    assert summary["hidden2"] == pytest.approx(np.floor(0.9 * 576) / 576) and summary["logits"] == 0.0
    assert summary["hidden"] == pytest.approx(np.floor(0.9 * 144) / 144)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        prune_weights(model, 1.0)
    with pytest.raises(ConfigError, match="final_sparsity"):
        PruneLowMagnitude(keras.layers.Dense(2), initial_sparsity=0.5, final_sparsity=0.2)
    with pytest.raises(ConfigError, match="layer"):
        PruneLowMagnitude(keras.layers.BatchNormalization())
