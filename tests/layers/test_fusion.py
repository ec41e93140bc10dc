"""conv->BN folding and the multi-branch blocks' fuse(): the deploy form equals the training form in inference mode."""

import itertools

import keras
import numpy as np
import pytest

from kerastricks.layers import ACBlock, RepVGGBlock, fuse_conv_bn


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
def test_block_fuse_equals_block_in_inference_mode(cls, kernel_size, strides, padding, randomize_norms, max_rel_diff):
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


@pytest.mark.parametrize("kwargs,match", [({"kernel_size": 4}, "odd"), ({"padding": "causal"}, "padding"),
                                          ({"rank": 3}, "rank"), ({"filters": 0}, "filters"),
                                          ({"strides": 0}, "strides")])
def test_block_argument_validation(kwargs, match):
    args = {"filters": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        ACBlock(**args)
