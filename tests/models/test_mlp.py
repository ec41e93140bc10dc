"""The MLP builder: closed-form parameter counts, layer structure, any input rank."""

from __future__ import annotations

import math

import keras
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.models import build_model


def mlp_params(d: int, w: int, depth: int, k: int, norm: str) -> int:
    """Parameters of an MLP written out by hand (reference for the builder).

    Dense layers: ``fan_in * fan_out`` weights plus ``fan_out`` biases; with
    batch norm the hidden Dense layers have no bias and each norm adds gamma,
    beta, moving mean and moving variance (4w).
    """
    if depth == 0:
        return d * k + k
    hidden_bias = 0 if norm == "batch" else w
    norm_params = 4 * w if norm == "batch" else 0
    first = d * w + hidden_bias + norm_params
    rest = (depth - 1) * (w * w + hidden_bias + norm_params)
    return first + rest + w * k + k


@settings(max_examples=12, deadline=None)
@given(
    shape=st.lists(st.integers(1, 6), min_size=1, max_size=3).map(tuple),
    width=st.integers(1, 16),
    depth=st.integers(0, 3),
    k=st.integers(1, 5),
    norm=st.sampled_from(["none", "batch"]),
)
def test_param_count_matches_closed_form(shape, width, depth, k, norm):
    model = build_model(
        "mlp", input_shape=shape, num_outputs=k, options={"width": width, "depth": depth, "norm": norm}
    )
    assert model.count_params() == mlp_params(math.prod(shape), width, depth, k, norm)


def test_defaults_match_signature():
    model = build_model("mlp", input_shape=(40,), num_outputs=10)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [256, 256, 10]
    assert model.count_params() == mlp_params(40, 256, 2, 10, "none")
    assert model.get_layer("dense1").get_config()["kernel_initializer"]["class_name"] == "HeNormal"
    assert model.get_layer("dense1_act").get_config()["activation"] == "relu"


def test_depth_zero_is_logistic_regression():
    model = build_model("mlp", input_shape=(40,), num_outputs=10, options={"depth": 0})
    assert [layer.name for layer in model.layers] == ["inputs", "flatten", "logits"]


def test_dropout_and_activation_options():
    model = build_model(
        "mlp", input_shape=(6,), num_outputs=2, options={"depth": 2, "width": 4, "dropout": 0.25, "activation": "gelu"}
    )
    assert [model.get_layer(f"dense{i}_dropout").rate for i in (1, 2)] == [0.25, 0.25]
    assert model.get_layer("dense2_act").get_config()["activation"] == "gelu"


def test_flattens_images_in_row_major_order():
    # With depth 0 the model is x.reshape(-1) @ W + b: check it against numpy.
    model = build_model("mlp", input_shape=(3, 2, 2), num_outputs=2, options={"depth": 0})
    x = np.random.default_rng(0).normal(size=(4, 3, 2, 2)).astype("float32")
    kernel, bias = model.get_layer("logits").get_weights()
    expected = x.reshape(4, -1) @ kernel + bias
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x)), expected, rtol=1e-5, atol=1e-6)
