"""cnn1d, the MNIST-1D paper's CNN (parity with the reference architecture) and cnn2d."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.models import build_model


def _shape(model, layer):
    return tuple(model.get_layer(layer).output.shape[1:])


# --------------------------------------------------------------------------- mnist1d_cnn
#
# Reference: Greydanus 2020, "Scaling down deep learning", arXiv 2011.14439;
# github.com/greydanus/mnist1d notebooks/models.py, class ConvBase:
#   conv1 = Conv1d(1, 25, 5, stride=2, padding=1)
#   conv2 = Conv1d(25, 25, 3, stride=2, padding=1)
#   conv3 = Conv1d(25, 25, 3, stride=2, padding=1)
#   linear = Linear(linear_in=125, 10)      # relu after each conv, then flatten


def torch_conv_length(length, kernel, stride=2, padding=1):
    """PyTorch's Conv1d output length: floor((L + 2p - k) / s) + 1."""
    return (length + 2 * padding - kernel) // stride + 1


def test_mnist1d_cnn_length_arithmetic():
    l1 = torch_conv_length(40, 5)
    l2 = torch_conv_length(l1, 3)
    l3 = torch_conv_length(l2, 3)
    assert (l1, l2, l3) == (19, 10, 5)  # 25 * 5 = 125 = the reference's linear_in
    model = build_model("mnist1d_cnn", input_shape=(40,), num_outputs=10)
    assert _shape(model, "conv1_act") == (l1, 25)
    assert _shape(model, "conv2_act") == (l2, 25)
    assert _shape(model, "conv3_act") == (l3, 25)
    assert _shape(model, "flatten") == (25 * l3,)


def test_mnist1d_cnn_param_count_matches_the_paper_architecture():
    l3 = torch_conv_length(torch_conv_length(torch_conv_length(40, 5), 3), 3)
    conv1 = 1 * 25 * 5 + 25
    conv2 = 25 * 25 * 3 + 25
    conv3 = 25 * 25 * 3 + 25
    linear = (25 * l3) * 10 + 10
    expected = conv1 + conv2 + conv3 + linear
    assert expected == 5210
    for shape in [(40,), (40, 1)]:
        model = build_model("mnist1d_cnn", input_shape=shape, num_outputs=10)
        assert model.count_params() == expected


def test_mnist1d_cnn_layers_follow_the_reference():
    model = build_model("mnist1d_cnn", input_shape=(40,), num_outputs=10)
    for i, k in enumerate((5, 3, 3), start=1):
        config = model.get_layer(f"conv{i}_conv").get_config()
        assert (config["filters"], config["kernel_size"], config["strides"]) == (25, (k,), (2,))
        assert config["padding"] == "valid" and config["use_bias"] is True
        assert model.get_layer(f"conv{i}_pad").get_config()["padding"] == (1, 1)
        assert model.get_layer(f"conv{i}_act").get_config()["activation"] == "relu"
        assert isinstance(model.get_layer(f"conv{i}_norm"), keras.layers.Identity)


def test_mnist1d_cnn_padding_equals_pytorch_padding():
    """ZeroPadding1D(1) + valid conv equals a numpy conv over an explicitly zero-padded signal."""
    model = build_model("mnist1d_cnn", input_shape=(40,), num_outputs=10)
    x = np.random.default_rng(0).normal(size=(2, 40)).astype("float32")
    first = keras.Model(model.input, model.get_layer("conv1_act").output)
    kernel, bias = model.get_layer("conv1_conv").get_weights()  # (5, 1, 25), (25,)
    padded = np.pad(x, ((0, 0), (1, 1)))
    windows = np.stack([padded[:, 2 * t : 2 * t + 5] for t in range(19)], axis=1)  # (2, 19, 5)
    expected = np.maximum(np.einsum("btk,kc->btc", windows, kernel[:, 0, :]) + bias, 0)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(first(x)), expected, rtol=1e-5, atol=1e-5)


def test_mnist1d_cnn_default_init_is_pytorch_default():
    # PyTorch: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), variance 1/(3 fan_in).
    model = build_model("mnist1d_cnn", input_shape=(40,), num_outputs=10, options={"channels": 64})
    for layer, fan_in in [("conv2_conv", 64 * 3), ("conv3_conv", 64 * 3), ("logits", 64 * 5)]:
        kernel = model.get_layer(layer).get_weights()[0]
        bound = 1 / math.sqrt(fan_in)
        assert np.abs(kernel).max() <= bound
        # Sample std of >= 3,200 uniform draws: 5% relative tolerance is > 5 standard errors.
        assert kernel.std() == pytest.approx(bound / math.sqrt(3), rel=0.05)


def test_mnist1d_cnn_explicit_initializer_and_short_inputs():
    model = build_model(
        "mnist1d_cnn", input_shape=(40,), num_outputs=10, options={"kernel_initializer": "zeros"}
    )
    assert not np.any(model.get_layer("conv2_conv").get_weights()[0])
    assert build_model("mnist1d_cnn", input_shape=(3,), num_outputs=2).count_params() > 0
    with pytest.raises(ConfigError, match="length >= 3"):
        build_model("mnist1d_cnn", input_shape=(2,), num_outputs=2)


# --------------------------------------------------------------------------- cnn1d


def test_cnn1d_stages_and_widths():
    model = build_model(
        "cnn1d", input_shape=(40, 2), num_outputs=3, options={"width": 4, "depth": 3, "width_multiplier": 1.5}
    )
    assert [model.get_layer(f"block{i}_conv").filters for i in (1, 2, 3)] == [4, 6, 9]
    assert [_shape(model, f"block{i}_pool")[0] for i in (1, 2, 3)] == [20, 10, 5]
    assert model.get_layer("block1_conv").use_bias is False  # batch norm follows
    assert isinstance(model.get_layer("gap"), keras.layers.GlobalAveragePooling1D)


def test_cnn1d_strided_all_conv_and_flatten_head():
    model = build_model(
        "cnn1d",
        input_shape=(40,),
        num_outputs=3,
        options={"width": 4, "depth": 3, "downsample": "stride", "head": "flatten", "norm": "none", "dropout": 0.1},
    )
    assert not any(layer.name.endswith("_pool") for layer in model.layers)
    assert [model.get_layer(f"block{i}_conv").strides for i in (1, 2, 3)] == [(2,)] * 3
    assert _shape(model, "block3_act") == (5, 16)
    assert _shape(model, "flatten") == (80,)
    assert model.get_layer("head_dropout").rate == 0.1


def test_cnn1d_stops_downsampling_at_length_one():
    model = build_model("cnn1d", input_shape=(4, 1), num_outputs=2, options={"width": 2, "depth": 5})
    pools = [layer.name for layer in model.layers if layer.name.endswith("_pool")]
    assert pools == ["block1_pool", "block2_pool"]  # 4 -> 2 -> 1, then no more
    assert _shape(model, "block5_act")[0] == 1


def test_cnn1d_rejects_images():
    with pytest.raises(ConfigError) as info:
        build_model("cnn1d", input_shape=(8, 8, 1), num_outputs=2)
    assert info.value.key == "model.name"
    assert "(length, channels)" in str(info.value) and "(8, 8, 1)" in str(info.value)


# --------------------------------------------------------------------------- cnn2d


def test_cnn2d_vgg_stages():
    model = build_model(
        "cnn2d", input_shape=(32, 32, 3), num_outputs=10, options={"width": 4, "depth": 3, "convs_per_stage": 2}
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [layer.filters for layer in convs] == [4, 4, 8, 8, 16, 16]
    assert [_shape(model, f"stage{s}_pool")[:2] for s in (1, 2, 3)] == [(16, 16), (8, 8), (4, 4)]


@settings(max_examples=15, deadline=None)
@given(height=st.integers(4, 32), width=st.integers(4, 32), depth=st.integers(1, 6))
def test_cnn2d_never_pools_below_one_pixel(height, width, depth):
    model = build_model(
        "cnn2d",
        input_shape=(height, width, 1),
        num_outputs=2,
        options={"width": 1, "depth": depth, "convs_per_stage": 1, "norm": "none"},
    )
    pools = [layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]
    # A 2x "same" pool maps a side s to ceil(s / 2); the smaller side reaches 1
    # after ceil(log2(min side)) pools, and pooling stops there.
    assert len(pools) == min(depth, math.ceil(math.log2(min(height, width))))
    for layer in model.layers[1:]:
        assert min(layer.output.shape[1:-1] or (1,)) >= 1
    last = model.get_layer(f"stage{depth}_conv1_act").output.shape
    assert min(last[1:3]) >= 1


def test_cnn2d_on_8x8_digits_with_deep_stacks():
    model = build_model("cnn2d", input_shape=(8, 8), num_outputs=10, options={"width": 2, "depth": 5})
    assert len([layer for layer in model.layers if isinstance(layer, keras.layers.MaxPooling2D)]) == 3
    y = model(np.zeros((1, 8, 8), "float32"))
    assert tuple(y.shape) == (1, 10)


def test_cnn1d_without_downsampling_keeps_the_length():
    model = build_model(
        "cnn1d", input_shape=(40, 1), num_outputs=10,
        options={"width": 4, "depth": 3, "downsample": "none"},
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv1D)]
    assert len(convs) == 3
    assert all(layer.output.shape[1] == 40 for layer in convs)
    assert not any(layer.name.endswith("_pool") for layer in model.layers)


def test_mnist1d_cnn_biases_follow_pytorch_default():
    keras.utils.set_random_seed(0)
    model = build_model("mnist1d_cnn", input_shape=(40, 1), num_outputs=10)
    fan_ins = {"conv1_conv": 1 * 5, "conv2_conv": 25 * 3, "conv3_conv": 25 * 3, "logits": 125}
    for name, fan_in in fan_ins.items():
        bias = model.get_layer(name).bias.numpy()
        bound = 1.0 / np.sqrt(fan_in)
        assert np.all(np.abs(bias) <= bound)
        # uniform on [-b, b]: the spread is far from zero (std b/sqrt(3))
        assert bias.std() > 0.3 * bound
    keras.utils.set_random_seed(0)
    again = build_model("mnist1d_cnn", input_shape=(40, 1), num_outputs=10)
    for a, b in zip(model.get_weights(), again.get_weights()):
        np.testing.assert_array_equal(a, b)
