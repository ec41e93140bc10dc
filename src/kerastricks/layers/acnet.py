"""Asymmetric convolution blocks (ACNet, Ding et al. 2019)."""

from __future__ import annotations

import keras

from kerastricks.layers.fusion import MultiBranchConv


@keras.saving.register_keras_serializable(package="kerastricks")
class ACBlock(MultiBranchConv):
    """Asymmetric convolution block: ``k x k``, ``1 x k`` and ``k x 1`` convolutions, each with its BN, summed.

    ``y = BN_s(conv_kxk(x)) + BN_h(conv_1xk(x)) + BN_v(conv_kx1(x))``, the three
    branches centred on the same pixel for ``"same"`` and ``"valid"`` padding and
    any stride. The asymmetric branches strengthen the kernel's central cross
    ("skeleton"). After training, :meth:`fuse` gives one ``Conv2D(filters,
    kernel_size, strides, padding)`` with a bias that equals the block in
    inference mode: each BN is folded into its kernel and the ``1 x k`` / ``k x 1``
    kernels are added onto the centre row / column. No activation is included.

    With ``rank=1`` (sequences) the ``1 x k`` branch is the ``k``-wide kernel
    itself and the ``k x 1`` branch is 1 wide, so the 1-D analogue is a
    ``k``-wide and a 1-wide (pointwise) branch: the extra branch strengthens the
    kernel's centre tap, as the asymmetric kernels strengthen the centre cross in
    2-D. It fuses to one ``Conv1D``.

    Args:
        filters: Output channels, >= 1.
        kernel_size: Odd kernel size ``k`` >= 1 (branches share the centre). Default 3.
        strides: Stride along every spatial axis, >= 1. Default 1.
        padding: ``"same"`` or ``"valid"``. Default ``"same"``.
        rank: 2 for images (default), 1 for sequences.
        kernel_initializer: Initializer of every branch kernel. Default ``"he_normal"``.
        kernel_regularizer: Regularizer of every branch kernel, or None.
        momentum: Momentum of the branch BNs' moving statistics. Default 0.9 (PyTorch's
            BN default, used by the reference code; Keras's 0.99 left the moving statistics
            far from the batch statistics after a few hundred steps in our MNIST-1D runs).
        epsilon: Epsilon of the branch BNs. Default 1e-3.
        **kwargs: Base ``keras.layers.Layer`` arguments (``name``, ``dtype``).

    Example:
        >>> block = ACBlock(32, 3)
        >>> y = block(x)                      # training-time form
        >>> conv = block.fuse()               # deploy form: conv(x) == block(x, training=False)

    Reference:
        Ding, Guo, Ding & Han, 2019. "ACNet: Strengthening the Kernel Skeletons
        for Powerful CNN via Asymmetric Convolution Blocks", ICCV, arXiv 1908.03930.
    """

    def branch_kernels(self) -> list[tuple[str, tuple[int, ...]]]:
        k = self.kernel_size
        if self.rank == 1:
            return [("square", (k,)), ("point", (1,))]
        return [("square", (k, k)), ("hor", (1, k)), ("ver", (k, 1))]
