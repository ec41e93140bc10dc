"""Self-normalizing MLPs (Klambauer et al. 2017): the mnist1d-snn preset and ``dropout_kind = "alpha"``; SELU with
LeCun-normal weights keeps the activations of a deep plain MLP near mean 0 / variance 1 (the paper's fixed point),
which ReLU with the same weights does not; alpha dropout keeps them there in training mode."""

import keras
import numpy as np

from kerastricks.models import build_model
from kerastricks.recipes import load_recipe

# The paper's constants (eq. 14: alpha_01, lambda_01), for the numpy reference of SELU.
ALPHA, LAMBDA = 1.6732632423543772, 1.0507009873554805


def numpy_selu(x):
    return LAMBDA * np.where(x > 0, x, ALPHA * (np.exp(np.minimum(x, 0)) - 1))


def hidden_moments(model, x, training=False):
    """Mean and variance of the last hidden layer's activations (after dropout when present)."""
    last = [layer for layer in model.layers if layer.name.startswith("dense")][-1]
    probe = keras.Model(model.inputs[0], last.output)
    h = keras.ops.convert_to_numpy(probe(x, training=training)).astype(np.float64)
    return h.mean(), h.var()


def test_preset_is_the_self_normalizing_recipe():
    recipe = load_recipe(None, preset="mnist1d-snn")
    model = recipe.model
    assert (model["activation"], model["kernel_initializer"], model["norm"], model["dropout_kind"]) == (
        "selu", "lecun_normal", "none", "alpha")
    assert recipe.data["normalize"] == "standard"


def test_selu_is_the_papers_function():
    x = np.linspace(-5, 5, 101).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.activations.selu(x)), numpy_selu(x.astype(np.float64)),
                               rtol=1e-6, atol=1e-6)


def test_deep_selu_mlp_keeps_the_fixed_point_and_relu_does_not():
    x = np.random.default_rng(0).normal(size=(2048, 64)).astype("float32")  # standardized inputs
    options = {"width": 256, "depth": 16, "dropout": 0.1, "dropout_kind": "alpha", "activation": "selu",
               "kernel_initializer": "lecun_normal"}
    keras.utils.set_random_seed(0)
    snn = build_model("mlp", input_shape=(64,), num_outputs=10, options=options)
    assert all(isinstance(snn.get_layer(f"dense{i}_dropout"), keras.layers.AlphaDropout) for i in range(1, 17))
    for training in (False, True):  # without, then with alpha dropout active
        mean, var = hidden_moments(snn, x, training=training)
        # 16 layers deep the paper's fixed point (0, 1) holds to a few tenths with finite width
        assert abs(mean) < 0.2 and 0.7 < var < 1.3, (training, mean, var)
    keras.utils.set_random_seed(0)
    relu = build_model("mlp", input_shape=(64,), num_outputs=10,
                       options={**options, "activation": "relu", "dropout_kind": "standard"})
    assert isinstance(relu.get_layer("dense1_dropout"), keras.layers.Dropout)
    mean, var = hidden_moments(relu, x)
    assert mean > 0.2 or not 0.7 < var < 1.3  # ReLU with 1/fan_in weights drifts (its variance halves per layer)
