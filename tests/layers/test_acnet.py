"""ACBlock: its three branches against a numpy reference."""

import keras
import numpy as np

from kerastricks.layers import ACBlock, bn_parameters


def test_branch_outputs_match_numpy_reference_of_acnet(randomize_norms):
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
