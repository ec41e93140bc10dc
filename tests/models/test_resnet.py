"""CIFAR ResNet: parameter counts against the paper, structure, shortcuts, depth validation."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.errors import ConfigError
from kerastricks.models import build_model
from kerastricks.models.resnet import basic_block, blocks_per_stage

# He et al. 2016 (arXiv 1512.03385), Table 6: parameters of the CIFAR-10 ResNets
# (option A shortcuts), as printed: two significant digits.
PAPER_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}


def resnet_trainable_params(depth, width=16, channels=3, classes=10, projection=False):
    """Trainable parameters of the paper's CIFAR ResNet, counted by hand.

    3x3 convs without bias (batch norm follows), each batch norm with gamma and
    beta; option A shortcuts have no parameters, option B adds a 1x1 conv and a
    batch norm where the shape changes; the classifier is a Dense layer.
    """
    n = (depth - 2) // 6
    total = 9 * channels * width + 2 * width  # first conv + BN
    c_in = width
    for stage in range(3):
        c_out = width * 2**stage
        for _ in range(n):
            total += 9 * c_in * c_out + 2 * c_out + 9 * c_out * c_out + 2 * c_out
            if projection and c_in != c_out:
                total += c_in * c_out + 2 * c_out
            c_in = c_out
    return total + c_in * classes + classes


def _trainable(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_resnet20_parameter_count_matches_the_paper():
    model = build_model("resnet", input_shape=(32, 32, 3), num_outputs=10, options={"shortcut": "zero_pad"})
    count = _trainable(model)
    assert count == resnet_trainable_params(20) == 269_722
    # The paper prints 0.27M, i.e. a value that rounds to 0.27M: |count - 0.27M| <= 0.005M.
    assert abs(count - PAPER_PARAMS[20]) <= 0.005e6
    # Non-trainable: BN moving mean and variance for each of the 19 BN layers.
    assert model.count_params() - count == 2 * (16 + 6 * 16 + 6 * 32 + 6 * 64)


def test_resnet20_projection_shortcuts_add_two_1x1_convs():
    model = build_model("resnet", input_shape=(32, 32, 3), num_outputs=10)
    count = _trainable(model)
    assert count == resnet_trainable_params(20, projection=True) == 269_722 + 16 * 32 + 32 * 64 + 2 * (32 + 64)
    assert abs(count - PAPER_PARAMS[20]) <= 0.005e6
    projections = [layer.name for layer in model.layers if layer.name.endswith("_proj_conv")]
    assert projections == ["stage2_block1_proj_conv", "stage3_block1_proj_conv"]


@pytest.mark.parametrize("depth", [20, 32, 44, 56, 110])
def test_hand_count_reproduces_table_6(depth):
    # Rounded as the paper prints them: two significant digits.
    count = resnet_trainable_params(depth)
    digits = 2 - len(str(int(count)))
    assert round(count, digits) == PAPER_PARAMS[depth]


@pytest.mark.parametrize("depth", [32, 56])
def test_deeper_resnets_have_3n_blocks(depth):
    n = (depth - 2) // 6
    options = {"depth": depth, "shortcut": "zero_pad"}
    model = build_model("resnet", input_shape=(8, 8, 3), num_outputs=10, options=options)
    adds = [layer for layer in model.layers if isinstance(layer, keras.layers.Add)]
    assert len(adds) == 3 * n
    convs3x3 = [
        layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (3, 3)
    ]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert len(convs3x3) + len(dense) == depth  # "6n+2 stacked weighted layers"
    assert _trainable(model) == resnet_trainable_params(depth)
    assert model.name == f"resnet{depth}"


@pytest.mark.parametrize("size, maps", [(32, (32, 16, 8)), (8, (8, 4, 2))])
def test_feature_map_sizes(size, maps):
    model = build_model("resnet", input_shape=(size, size, 1), num_outputs=10, options={"depth": 8, "width": 4})
    got = tuple(model.get_layer(f"stage{s}_block1_out").output.shape[1] for s in (1, 2, 3))
    assert got == maps
    widths = tuple(model.get_layer(f"stage{s}_block1_out").output.shape[-1] for s in (1, 2, 3))
    assert widths == (4, 8, 16)


@settings(max_examples=60, deadline=None)
@given(depth=st.integers(-5, 400))
def test_only_6n_plus_2_depths_are_accepted(depth):
    if depth >= 8 and (depth - 2) % 6 == 0:
        assert blocks_per_stage(depth) == (depth - 2) // 6
    else:
        with pytest.raises(ConfigError) as info:
            blocks_per_stage(depth)
        assert info.value.key == "model.depth"
        assert "6n+2 (20, 32, 56, ...)" in str(info.value)


def test_bad_depth_fails_before_building():
    with pytest.raises(ConfigError) as info:
        build_model("resnet", input_shape=(8, 8, 1), num_outputs=10, options={"depth": 18}, file="r.toml")
    assert str(info.value).startswith("r.toml: key 'model.depth'")
    assert "received 18" in str(info.value)


def _block_with_zero_convs(shortcut, x_shape, filters, strides):
    x = keras.Input(x_shape)
    model = keras.Model(x, basic_block(x, filters, strides=strides, shortcut=shortcut, name="b"))
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            layer.set_weights([np.zeros_like(w) for w in layer.get_weights()])
    return model


def test_zero_pad_shortcut_is_subsample_and_zero_channels():
    """Option A: with the residual branch zeroed the block is relu([x[::2, ::2], 0])."""
    model = _block_with_zero_convs("zero_pad", (6, 6, 3), 6, 2)
    x = np.random.default_rng(0).normal(size=(2, 6, 6, 3)).astype("float32")
    expected = np.maximum(np.concatenate([x[:, ::2, ::2, :], np.zeros((2, 3, 3, 3), "float32")], axis=-1), 0)
    # In inference, BN of an all-zero conv output is beta = 0.
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), expected, atol=1e-6)
    assert not any(isinstance(layer, keras.layers.Conv2D) and layer.kernel_size == (1, 1) for layer in model.layers)


def test_identity_shortcut_when_shapes_match():
    model = _block_with_zero_convs("projection", (4, 4, 3), 3, 1)
    x = np.random.default_rng(1).normal(size=(2, 4, 4, 3)).astype("float32")
    np.testing.assert_allclose(keras.ops.convert_to_numpy(model(x, training=False)), np.maximum(x, 0), atol=1e-6)
    assert "b_proj_conv" not in [layer.name for layer in model.layers]


def test_zero_pad_needs_channel_doubling():
    x = keras.Input((4, 4, 3))
    with pytest.raises(ValueError, match="doubles"):
        basic_block(x, 5, strides=2, shortcut="zero_pad", name="b")


def test_norm_none_gives_convs_a_bias():
    model = build_model(
        "resnet", input_shape=(8, 8, 1), num_outputs=2, options={"depth": 8, "width": 2, "norm": "none"}
    )
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert all(layer.use_bias for layer in convs)
