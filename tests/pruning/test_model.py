"""Whole-model pruning: default layers and patterns, global ranking against a numpy threshold, stripping, linking
after loading, one-shot pruning."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.pruning import (
    default_layers,
    link_pruning,
    prune_model,
    prune_weights,
    sparsity_summary,
    strip_pruning,
)


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


def test_global_scope_ranks_all_layers_together(mlp, data):
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


def test_strip_pruning_gives_plain_keras_layers_with_the_same_outputs(mlp, data):
    x, y = data()
    model = prune_model(mlp(), final_sparsity=0.5, end_step=0)
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    stripped = strip_pruning(model)
    assert [type(layer).__module__.split(".")[0] for layer in stripped.layers] == ["keras"] * 4
    assert [layer.name for layer in stripped.layers][1:] == ["hidden", "hidden2", "logits"]
    np.testing.assert_allclose(stripped.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    assert sparsity_summary(stripped)["layers"]["hidden"] == pytest.approx(72 / 144)


def test_global_wrappers_must_be_linked_after_loading(tmp_path, mlp, data):
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


def test_one_shot_prune_weights(mlp):
    model = mlp()
    pruned = prune_weights(model, 0.9)
    summary = sparsity_summary(pruned)["layers"]
    # an MLP has no conv: only the classifier is skipped by default
    assert summary["hidden2"] == pytest.approx(np.floor(0.9 * 576) / 576) and summary["logits"] == 0.0
    assert summary["hidden"] == pytest.approx(np.floor(0.9 * 144) / 144)
    with pytest.raises(ConfigError, match=r"\[0, 1\)"):
        prune_weights(model, 1.0)
