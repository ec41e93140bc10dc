"""RepVGG blocks (Ding et al. 2021)."""

from __future__ import annotations

import keras

from kerastricks.layers.fusion import MultiBranchConv


@keras.saving.register_keras_serializable(package="kerastricks")
class RepVGGBlock(MultiBranchConv):
    """RepVGG block: ``k x k`` conv + BN, ``1 x 1`` conv + BN and an identity BN, summed.

    ``y = BN_k(conv_kxk(x)) + BN_1(conv_1x1(x)) + BN_id(x)``; the identity branch
    exists only when it can (``strides == 1`` and input channels == ``filters``).
    The ``1 x 1`` and identity branches read the centre of each ``k x k``
    window, so the block works with ``"same"`` and ``"valid"`` padding and any
    stride. :meth:`fuse` gives one ``Conv{rank}D(filters, kernel_size, strides,
    padding)`` with a bias equal to the block in inference mode (the ``1 x 1``
    kernel and the identity, as a kernel with 1 at the centre of channel
    ``i -> i``, are added onto the centre). No activation is included (the paper
    applies ReLU after the sum). ``rank=1`` is the same block on sequences
    (``k``-wide, pointwise, identity).

    Args:
        filters: Output channels, >= 1.
        kernel_size: Odd kernel size ``k`` >= 1. Default 3 (the paper's).
        strides: Stride along every spatial axis, >= 1. Default 1.
        padding: ``"same"`` or ``"valid"``. Default ``"same"``.
        rank: 2 for images (default), 1 for sequences.
        kernel_initializer: Initializer of both conv kernels. Default ``"he_normal"``.
        kernel_regularizer: Regularizer of both conv kernels, or None.
        momentum: Momentum of the BNs' moving statistics. Default 0.9 (PyTorch's
            BN default, used by the reference code; Keras's 0.99 left the moving statistics
            far from the batch statistics after a few hundred steps in our MNIST-1D runs).
        epsilon: Epsilon of the BNs. Default 1e-3.
        **kwargs: Base ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Example:
        >>> block = RepVGGBlock(32)
        >>> conv = block.fuse()

    Reference:
        Ding, Zhang, Ma, Han, Ding & Sun, 2021. "RepVGG: Making VGG-style
        ConvNets Great Again", CVPR, arXiv 2101.03697.
    """

    def branch_kernels(self) -> list[tuple[str, tuple[int, ...]]]:
        return [("square", (self.kernel_size,) * self.rank), ("point", (1,) * self.rank)]

    def has_identity(self, in_channels: int) -> bool:
        return self.strides == 1 and in_channels == self.filters
