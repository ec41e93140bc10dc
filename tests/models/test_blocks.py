"""Extension points and shared blocks: conv/norm registries, resolvers, input adapters, heads."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.models import build_model
from kerastricks.models.blocks import (
    CONVS,
    NORMS,
    as_image,
    as_sequence,
    conv_norm_act,
    logits_head,
    make_conv,
    make_norm,
    norm_centers,
    register_conv,
    register_norm,
    resolve_activation,
    resolve_initializer,
    resolve_regularizer,
)

# --------------------------------------------------------------------------- registries


def test_shipped_kinds():
    assert "plain" in CONVS
    assert {"batch", "none"} <= set(NORMS.names())
    assert norm_centers("batch") is True
    assert norm_centers("none") is False
    for entry in list(CONVS) + list(NORMS):
        assert entry.description


@pytest.mark.parametrize("rank, cls", [(1, keras.layers.Conv1D), (2, keras.layers.Conv2D), (3, keras.layers.Conv3D)])
def test_make_conv_plain_by_rank(rank, cls):
    layer = make_conv("plain", rank, 7, 3, strides=2, padding="valid", use_bias=False, name="c")
    assert type(layer) is cls
    config = layer.get_config()
    assert config["filters"] == 7
    assert config["kernel_size"] == (3,) * rank
    assert config["strides"] == (2,) * rank
    assert config["padding"] == "valid"
    assert config["use_bias"] is False
    assert layer.name == "c"


def test_make_conv_is_case_insensitive_and_rejects_bad_rank():
    assert isinstance(make_conv("PLAIN", 1, 2, 3), keras.layers.Conv1D)
    with pytest.raises(ValueError, match="rank"):
        make_conv("plain", 4, 2, 3)


def test_make_norm_kinds():
    assert isinstance(make_norm("batch", 2), keras.layers.BatchNormalization)
    identity = make_norm("none", 0, name="n")
    x = np.arange(6, dtype="float32").reshape(2, 3)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(identity(x)), x)


@pytest.mark.parametrize("factory, kind, key", [(make_conv, "plian", "model.conv"), (make_norm, "bacth", "model.norm")])
def test_unknown_kinds_suggest(factory, kind, key):
    args = (kind, 2, 4, 3) if factory is make_conv else (kind, 2)
    with pytest.raises(ConfigError) as info:
        factory(*args)
    assert info.value.key == key
    assert "did you mean" in str(info.value)
    assert "\n" not in str(info.value)


# A new norm kind, registered the way a later technique would: no builder changes.
@register_norm("test_layer", description="layer normalization (test)", centers=False)
def _layer_norm(rank, *, name=None):
    return keras.layers.LayerNormalization(name=name)


# A new conv kind: a plain conv whose kernel is constrained to be non-negative.
@register_conv("test_nonneg", description="non-negative kernel (test)")
def _nonneg_conv(
    rank, filters, kernel_size, *, strides, padding, use_bias, kernel_initializer, kernel_regularizer, name
):
    cls = {1: keras.layers.Conv1D, 2: keras.layers.Conv2D}[rank]
    return cls(
        filters, kernel_size, strides=strides, padding=padding, use_bias=use_bias,
        kernel_initializer=kernel_initializer, kernel_regularizer=kernel_regularizer,
        kernel_constraint=keras.constraints.NonNeg(), name=name,
    )


@pytest.mark.parametrize("name, shape", [("cnn1d", (16, 1)), ("cnn2d", (8, 8, 1)), ("resnet", (8, 8, 1))])
def test_registered_kinds_reach_every_conv_builder(name, shape):
    options = {"width": 2, "conv": "test_nonneg", "norm": "test_layer"}
    if name == "resnet":
        options["depth"] = 8
    model = build_model(name, input_shape=shape, num_outputs=2, options=options)
    convs = [layer for layer in model.layers if layer.name.endswith("_conv")]
    norms = [layer for layer in model.layers if layer.name.endswith("_norm")]
    assert convs and len(convs) == len(norms)
    assert all(isinstance(layer.kernel_constraint, keras.constraints.NonNeg) for layer in convs)
    assert all(isinstance(layer, keras.layers.LayerNormalization) for layer in norms)
    # The new norm does not center, so the convolutions keep their bias.
    assert all(layer.use_bias for layer in convs)


# --------------------------------------------------------------------------- resolvers


def test_resolvers_return_identifiers_unchanged():
    assert resolve_activation("gelu") == "gelu"
    assert resolve_initializer("he_uniform") == "he_uniform"
    init = keras.initializers.Orthogonal()
    assert resolve_initializer(init) is init
    assert resolve_regularizer(None) is None
    assert resolve_regularizer("l2") == "l2"


@pytest.mark.parametrize(
    "resolver, value, key, suggestion",
    [
        (resolve_activation, "reelu", "model.activation", "relu"),
        (resolve_activation, "swishh", "model.activation", "swish"),
        (resolve_initializer, "he_normall", "model.kernel_initializer", "he_normal"),
        (resolve_initializer, "glorot", "model.kernel_initializer", "glorot_normal"),
    ],
)
def test_resolvers_reject_unknown_names(resolver, value, key, suggestion):
    with pytest.raises(ConfigError) as info:
        resolver(value)
    assert info.value.key == key
    assert f"did you mean '{suggestion}'?" in str(info.value)
    assert "\n" not in str(info.value)


def test_resolver_without_close_match_has_no_hint():
    with pytest.raises(ConfigError) as info:
        resolve_activation("qqqqqqqq")
    assert "did you mean" not in str(info.value)


# --------------------------------------------------------------------------- inputs


@pytest.mark.parametrize(
    "shape, images_as_rows, expected",
    [((40,), False, (40, 1)), ((40, 3), False, (40, 3)), ((8, 6, 2), True, (8, 12))],
)
def test_as_sequence_shapes(shape, images_as_rows, expected):
    x = keras.Input(shape)
    assert tuple(as_sequence(x, model="m", images_as_rows=images_as_rows).shape[1:]) == expected


def test_images_are_read_row_by_row():
    x = keras.Input((2, 3, 2))
    model = keras.Model(x, as_sequence(x, model="m", images_as_rows=True))
    image = np.arange(12, dtype="float32").reshape(1, 2, 3, 2)
    rows = keras.ops.convert_to_numpy(model(image))
    np.testing.assert_array_equal(rows[0, 0], image[0, 0].reshape(-1))
    np.testing.assert_array_equal(rows[0, 1], image[0, 1].reshape(-1))


def test_as_sequence_rejects_images_by_default():
    with pytest.raises(ConfigError) as info:
        as_sequence(keras.Input((8, 8, 1)), model="cnn1d")
    assert info.value.key == "model.name"
    assert "'cnn1d' needs sequence input" in str(info.value)


@pytest.mark.parametrize("shape, expected", [((8, 8), (8, 8, 1)), ((8, 8, 3), (8, 8, 3))])
def test_as_image_shapes(shape, expected):
    assert tuple(as_image(keras.Input(shape), model="m").shape[1:]) == expected


def test_as_image_rejects_sequences():
    with pytest.raises(ConfigError) as info:
        as_image(keras.Input((40,)), model="cnn2d")
    assert info.value.key == "model.name"
    assert "(40,)" in str(info.value)


# --------------------------------------------------------------------------- blocks


@pytest.mark.parametrize("norm, bias", [("batch", False), ("none", True)])
def test_conv_norm_act_names_and_bias(norm, bias):
    x = keras.Input((8, 8, 3))
    y = conv_norm_act(x, 5, 3, rank=2, norm=norm, activation="relu", name="b")
    model = keras.Model(x, y)
    names = [layer.name for layer in model.layers[1:]]
    assert names == ["b_conv", "b_norm", "b_act"]
    assert model.get_layer("b_conv").use_bias is bias
    assert tuple(y.shape[1:]) == (8, 8, 5)


def test_conv_norm_act_without_activation_and_strided():
    x = keras.Input((9, 2))
    y = conv_norm_act(x, 4, 3, rank=1, strides=2, activation=None, name="b")
    model = keras.Model(x, y)
    assert [layer.name for layer in model.layers[1:]] == ["b_conv", "b_norm"]
    assert tuple(y.shape[1:]) == (5, 4)  # "same" padding: ceil(9 / 2)


def test_logits_head_is_float32_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")  # restored by the conftest fixture
    x = keras.Input((4,))
    h = keras.layers.Dense(6)(x)
    y = logits_head(h, 3, dropout=0.5)
    model = keras.Model(x, y)
    assert keras.backend.standardize_dtype(h.dtype) == "float16"
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert model.get_layer("logits").get_config()["activation"] == "linear"
    assert model.get_layer("head_dropout").rate == 0.5


def test_logits_head_without_dropout_adds_no_layer():
    x = keras.Input((4,))
    model = keras.Model(x, logits_head(x, 2))
    assert [layer.name for layer in model.layers[1:]] == ["logits"]
