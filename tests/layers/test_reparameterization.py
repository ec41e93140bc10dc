"""ACNet / RepVGG blocks and conv->BN folding: the deploy form equals the training form in inference mode."""

import itertools

import keras
import numpy as np
import pytest

from kerastricks.layers import (
    ACBlock,
    ExtendedBatchNormalization,
    RepVGGBlock,
    WSConv2D,
    bn_parameters,
    fuse_conv_bn,
    reparameterize,
)

RNG = np.random.default_rng(0)


def randomize_norms(layer_or_model, rng):
    """Random BN statistics and affine parameters, so fusion is tested away from identity."""
    for sub in layer_or_model._flatten_layers():
        if isinstance(sub, keras.layers.BatchNormalization):
            c = sub.gamma.shape[0]
            sub.set_weights([rng.uniform(0.5, 2.0, c), rng.normal(size=c), rng.normal(size=c),
                             rng.uniform(0.3, 3.0, c)])
        elif isinstance(sub, ExtendedBatchNormalization):
            c = sub.gamma.shape[0]
            sub.set_weights([rng.uniform(0.5, 2.0, c), rng.normal(size=c), rng.normal(size=c), np.float32(1.7)])


def max_rel_diff(a, b):
    """max |a - b| / max |a|: elementwise relative errors are meaningless where outputs cross zero."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return float(np.max(np.abs(a - b)) / np.max(np.abs(a)))


def test_fuse_conv_bn_matches_numpy_bn_of_conv_output():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(5, 4)).astype("float64")  # a 1x1 conv is a matmul: the reference is numpy
    kernel, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    gamma, beta, mean, var = rng.uniform(0.5, 2, 3), rng.normal(size=3), rng.normal(size=3), rng.uniform(0.5, 2, 3)
    want = gamma * (x @ kernel + bias - mean) / np.sqrt(var + 1e-3) + beta
    k, b = fuse_conv_bn(kernel, bias, gamma, beta, mean, var, 1e-3)
    np.testing.assert_allclose(x @ k + b, want, rtol=1e-5, atol=1e-5)  # float32 outputs of the fusion
    # absent bias / gamma / beta and a shared scalar variance (extended BN)
    want = (x @ kernel - mean) / np.sqrt(1.5 + 1e-3)
    k, b = fuse_conv_bn(kernel, None, None, None, mean, 1.5, 1e-3)
    np.testing.assert_allclose(x @ k + b, want, rtol=1e-5, atol=1e-5)


CASES = list(itertools.product([ACBlock, RepVGGBlock], [3, 5], [1, 2], ["same", "valid"]))


@pytest.mark.parametrize("cls,kernel_size,strides,padding", CASES)
def test_block_fuse_equals_block_in_inference_mode(cls, kernel_size, strides, padding):
    rng = np.random.default_rng(kernel_size * 10 + strides)
    # even size 10 with stride 2 is where naive "same" padding misaligns the branches
    for rank, size in ((2, 10), (1, 11)):
        x = rng.normal(size=(2,) + (size,) * rank + (6,)).astype("float32")
        block = cls(6, kernel_size, strides, padding, rank=rank)
        block(x)
        randomize_norms(block, rng)
        conv = block.fuse()
        assert isinstance(conv, keras.layers.Conv2D if rank == 2 else keras.layers.Conv1D)
        y = keras.ops.convert_to_numpy(block(x, training=False))
        z = keras.ops.convert_to_numpy(conv(x))
        assert y.shape == z.shape
        # float32 sums of <= 3*25*6 products: 1e-5 of the output scale
        assert max_rel_diff(y, z) <= 1e-5


def test_branch_outputs_match_numpy_reference_of_acnet():
    """ACBlock = sum of its three branches computed independently in numpy (valid padding)."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(1, 6, 6, 2)).astype("float32")
    block = ACBlock(3, 3, padding="valid")
    block(x)
    randomize_norms(block, rng)

    def conv_valid(x, w):  # numpy cross-correlation, output channels last
        kh, kw = w.shape[:2]
        h, wd = x.shape[1] - kh + 1, x.shape[2] - kw + 1
        return np.stack([np.einsum("bhwc,hwcf->bf", x[:, i:i + kh, j:j + kw], w)
                         for i in range(h) for j in range(wd)], 1).reshape(1, h, wd, -1)

    def bn(z, layer):
        g, b, m, v, e = bn_parameters(layer)
        return g * (z - m) / np.sqrt(v + e) + b

    x64 = x.astype("float64")
    square = bn(conv_valid(x64, block.square_conv.kernel.numpy()), block.square_bn)
    hor = bn(conv_valid(x64[:, 1:-1], block.hor_conv.kernel.numpy()), block.hor_bn)   # 1x3 on the centre rows
    ver = bn(conv_valid(x64[:, :, 1:-1], block.ver_conv.kernel.numpy()), block.ver_bn)  # 3x1 on the centre columns
    got = keras.ops.convert_to_numpy(block(x, training=False))
    np.testing.assert_allclose(got, square + hor + ver, rtol=1e-5, atol=1e-5)


def test_repvgg_identity_branch_only_when_shapes_allow():
    assert RepVGGBlock(4)(np.zeros((1, 5, 5, 4), "float32")) is not None
    with_id, without = RepVGGBlock(4), RepVGGBlock(4, strides=2)
    with_id.build((None, 5, 5, 4))
    without.build((None, 5, 5, 4))
    assert with_id.identity_bn is not None and without.identity_bn is None
    other = RepVGGBlock(4)
    other.build((None, 5, 5, 3))
    assert other.identity_bn is None


@pytest.mark.parametrize("kwargs,match", [({"kernel_size": 4}, "odd"), ({"padding": "causal"}, "padding"),
                                          ({"rank": 3}, "rank"), ({"filters": 0}, "filters"),
                                          ({"strides": 0}, "strides")])
def test_block_argument_validation(kwargs, match):
    args = {"filters": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        ACBlock(**args)


def small_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((10, 10, 3))
    x = ACBlock(8, 3, name="acb")(inputs)
    x = keras.layers.BatchNormalization(name="acb_bn")(x)        # a norm after a block folds too
    x = keras.layers.ReLU()(x)
    x = RepVGGBlock(8, 3, name="rep")(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    y = ExtendedBatchNormalization(name="conv_ebn")(y)
    y = keras.layers.ReLU()(y)
    z = WSConv2D(8, 3, padding="same", scale="relu", name="ws")(y)
    z = keras.layers.BatchNormalization(name="ws_bn")(z)
    # a conv whose output is used twice must not be folded into one of its consumers
    shared = keras.layers.Conv2D(8, 1, name="shared")(z)
    a = keras.layers.BatchNormalization(name="shared_bn")(shared)
    z = keras.layers.Add()([a, shared])
    z = keras.layers.GlobalAveragePooling2D()(z)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(z))


def test_reparameterize_model_equals_original_and_leaves_it_untouched():
    rng = np.random.default_rng(4)
    model = small_model(0)
    randomize_norms(model, rng)
    before = [w.copy() for w in model.get_weights()]
    x = rng.normal(size=(4, 10, 10, 3)).astype("float32")
    deploy = reparameterize(model)
    assert max_rel_diff(model(x, training=False), deploy(x)) <= 1e-5
    kinds = {layer.name: type(layer) for layer in deploy.layers}
    assert kinds["acb"] is keras.layers.Conv2D and kinds["rep"] is keras.layers.Conv2D
    assert kinds["ws"] is keras.layers.Conv2D
    for folded in ("acb_bn", "conv_ebn", "ws_bn"):
        assert kinds[folded] is keras.layers.Identity
    assert kinds["shared_bn"] is keras.layers.BatchNormalization  # not folded: 'shared' has two consumers
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert deploy.count_params() < model.count_params()


def test_reparameterize_sequential_and_errors():
    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((9, 2)), keras.layers.Conv1D(4, 3, name="c"),
                              keras.layers.BatchNormalization(name="bn"), ACBlock(4, 3, rank=1, name="a")])
    randomize_norms(model, rng)
    x = rng.normal(size=(3, 9, 2)).astype("float32")
    deploy = reparameterize(model)
    assert type(deploy.get_layer("bn")) is keras.layers.Identity
    assert max_rel_diff(model(x, training=False), deploy(x)) <= 1e-5
    with pytest.raises(TypeError, match="`model`"):
        reparameterize(keras.layers.Dense(2))
