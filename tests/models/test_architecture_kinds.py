"""Zoo integration of the architecture tricks: conv = ws | nf | acb | repvgg, norm = extended."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.layers import (
    NF_GAMMAS,
    ACBlock,
    ExtendedBatchNormalization,
    RepVGGBlock,
    WSConv1D,
    WSConv2D,
    reparameterize,
)
from kerastricks.models import build_model
from kerastricks.models.blocks import CONVS, NORMS, make_conv


def layer_types(model):
    return [type(layer) for layer in model.layers]


@pytest.mark.parametrize("name,shape,conv,cls", [
    ("cnn2d", (8, 8, 1), "ws", WSConv2D), ("cnn2d", (8, 8, 1), "acb", ACBlock),
    ("resnet", (8, 8, 1), "repvgg", RepVGGBlock), ("cnn1d", (20, 1), "acb", ACBlock),
    ("mnist1d_cnn", (40,), "repvgg", RepVGGBlock), ("mnist1d_cnn", (40,), "ws", WSConv1D),
])
def test_conv_kinds_reach_every_builder_and_fuse(name, shape, conv, cls):
    options = {"conv": conv, "norm": "extended" if name != "mnist1d_cnn" else "none"}
    options.update({"cnn2d": {"width": 4, "depth": 1}, "resnet": {"width": 4, "depth": 8},
                    "cnn1d": {"width": 4, "depth": 2}, "mnist1d_cnn": {"channels": 4}}[name])
    model = build_model(name, input_shape=shape, num_outputs=3, options=options)
    assert cls in layer_types(model)
    if name != "mnist1d_cnn":
        assert ExtendedBatchNormalization in layer_types(model)
    x = np.random.default_rng(0).normal(size=(4,) + shape).astype("float32")
    deploy = reparameterize(model)
    assert not {cls, ExtendedBatchNormalization} & set(layer_types(deploy))
    # fusion is exact up to float32 rounding
    np.testing.assert_allclose(deploy(x), model(x, training=False), rtol=1e-4, atol=1e-5)


def test_nf_option_scales_activations_by_gamma():
    model = build_model("cnn1d", input_shape=(16, 1), num_outputs=2,
                        options={"conv": "nf", "norm": "none", "width": 4, "depth": 2, "activation": "gelu"})
    gammas = [layer for layer in model.layers if layer.name.endswith("_gamma")]
    assert len(gammas) == 2 and all(g.scale == NF_GAMMAS["gelu"] for g in gammas)
    ws = [layer for layer in model.layers if isinstance(layer, WSConv1D)]
    assert ws and all(layer.scale is True and layer.use_bias for layer in ws)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)


def test_registry_entries_and_errors():
    assert {"ws", "nf", "acb", "repvgg"} <= set(CONVS.names()) and "extended" in NORMS.names()
    assert CONVS.get("nf").meta["scales_activation"] and NORMS.get("extended").meta["centers"]
    # a 1x1 acb/repvgg conv has nothing to fuse: a plain conv
    assert type(make_conv("acb", 2, 4, 1, use_bias=False)) is keras.layers.Conv2D
    with pytest.raises(ConfigError, match="odd kernel"):
        make_conv("repvgg", 2, 4, 4)
    with pytest.raises(ConfigError, match="model.conv"):
        make_conv("ws", 3, 4, 3)
