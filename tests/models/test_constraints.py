"""Max-norm on every kernel (``[model] max_norm``): numpy reference of one constrained step, the unit axes of
every kernel kind, the recipe key, and a .keras round trip."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.models import build_model, validate_model_options
from kerastricks.models.constraints import add_max_norm, kernel_axes
from kerastricks.recipes import recipe_from_dict


def numpy_max_norm(w, r, axes):
    """Srivastava et al. 2014: rescale each unit's incoming weights to norm <= r (Keras adds 1e-7 to the norm)."""
    norms = np.sqrt(np.sum(w * w, axis=tuple(axes), keepdims=True))
    return w * np.clip(norms, 0, r) / (norms + 1e-7)


def small_model():
    x = keras.Input((12, 3))
    h = keras.layers.Conv1D(4, 3, name="conv")(x)
    h = keras.layers.GRU(5, name="gru", return_sequences=True)(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    return keras.Model(x, keras.layers.Dense(3, name="logits")(h))


def test_every_kernel_gets_max_norm_over_all_but_the_last_axis():
    model, changed = add_max_norm(small_model(), 2.0)
    assert changed == 3  # conv, gru (input kernel), logits; not the batch norm
    conv, gru, logits = model.get_layer("conv"), model.get_layer("gru"), model.get_layer("logits")
    assert conv.kernel_constraint.get_config() == {"max_value": 2.0, "axis": [0, 1]}
    assert gru.cell.kernel_constraint.get_config() == {"max_value": 2.0, "axis": 0}
    assert gru.cell.recurrent_constraint is None  # recurrent kernels are left alone
    assert logits.kernel_constraint.get_config() == {"max_value": 2.0, "axis": 0}
    assert model.get_layer("bn").gamma_constraint is None
    assert kernel_axes(np.zeros((3, 3, 2, 8))) == [0, 1, 2]


def test_weights_are_copied_not_projected():
    base = small_model()
    model, _ = add_max_norm(base, 0.01)
    for a, b in zip(base.get_weights(), model.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_one_sgd_step_matches_numpy():
    """w <- maxnorm(w - lr * g): the optimizer applies the constraint after every update."""
    r, lr = 0.5, 0.1
    model, _ = add_max_norm(small_model(), r)
    rng = np.random.default_rng(0)
    variables = model.trainable_variables
    grads = [rng.normal(size=v.shape).astype("float32") * 3 for v in variables]
    before = [v.numpy().astype(np.float64) for v in variables]
    keras.optimizers.SGD(lr).apply([keras.ops.convert_to_tensor(g) for g in grads], variables)
    axes = {"conv/kernel": [0, 1], "gru/gru_cell/kernel": [0], "logits/kernel": [0]}
    checked = 0
    for v, w0, g in zip(variables, before, grads):
        expected = w0 - lr * g
        if v.path in axes:
            expected = numpy_max_norm(expected, r, axes[v.path])
            norms = np.sqrt(np.sum(v.numpy().astype(np.float64) ** 2, axis=tuple(axes[v.path])))
            assert np.all(norms <= r * (1 + 1e-6)) and np.max(norms) > 0.9 * r  # the bound binds, and holds
            checked += 1
        # float32 update and rescale: a few ulps of values of order 1
        np.testing.assert_allclose(v.numpy(), expected, rtol=1e-5, atol=1e-6, err_msg=v.path)
    assert checked == 3


def test_recipe_key_on_any_model_and_saved_with_it(tmp_path):
    recipe = recipe_from_dict({"model": {"name": "cnn1d", "width": 8, "depth": 1, "max_norm": 3}})
    assert recipe.model["max_norm"] == 3.0
    assert "max_norm = 3.0" in recipe.to_toml()
    model = build_model("cnn1d", input_shape=(40, 1), num_outputs=10, options=recipe.options("model"))
    kernels = [layer for layer in model.layers if hasattr(layer, "kernel_constraint")]
    assert kernels and all(isinstance(layer.kernel_constraint, keras.constraints.MaxNorm) for layer in kernels)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert loaded.get_layer("logits").kernel_constraint.get_config() == {"max_value": 3.0, "axis": 0}
    # unset: no constraint, and the resolved recipe says nothing about it
    plain = recipe_from_dict({"model": {"name": "mlp", "width": 4, "depth": 1}})
    assert "max_norm" not in plain.model
    mlp = build_model("mlp", input_shape=(5,), num_outputs=2, options=plain.options("model"))
    assert mlp.get_layer("logits").kernel_constraint is None


@pytest.mark.parametrize("value, fragment", [(0, "> 0"), (-1.0, "> 0"), ("big", "a number")])
def test_bad_max_norm(value, fragment):
    with pytest.raises(ConfigError) as info:
        recipe_from_dict({"model": {"name": "mlp", "max_norm": value}}, source="r.toml")
    assert info.value.key == "model.max_norm" and info.value.file == "r.toml"
    assert fragment in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(ConfigError):
        validate_model_options("mlp", {"max_norm": value})
