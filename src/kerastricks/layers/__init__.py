"""Layers: weight-standardized convolutions, extended batch norm, re-parameterizable blocks.

- :func:`standardize_kernel`, :class:`WSConv1D`, :class:`WSConv2D` -- weight
  standardization and NFNets' Scaled WS (:data:`NF_GAMMAS`, :func:`activation_gamma`).
- :class:`ExtendedBatchNormalization` -- BN with one standard deviation per layer.
- :class:`ACBlock`, :class:`RepVGGBlock` -- multi-branch training-time blocks;
  :func:`fuse_conv_bn` and :func:`reparameterize` turn them (and any conv -> BN
  pair) into plain convolutions for deployment.

Every layer subclasses a public Keras class and is registered for
``keras.saving`` under the package name ``"kerastricks"``.
"""

from kerastricks.layers.acnet import ACBlock
from kerastricks.layers.extended_bn import ExtendedBatchNormalization
from kerastricks.layers.fusion import MultiBranchConv, bn_parameters, fuse_conv_bn
from kerastricks.layers.reparameterize import reparameterize
from kerastricks.layers.repvgg import RepVGGBlock
from kerastricks.layers.weight_standardization import (
    NF_GAMMAS,
    WSConv1D,
    WSConv2D,
    activation_gamma,
    standardize_kernel,
)

__all__ = [
    "NF_GAMMAS",
    "ACBlock",
    "ExtendedBatchNormalization",
    "MultiBranchConv",
    "RepVGGBlock",
    "WSConv1D",
    "WSConv2D",
    "activation_gamma",
    "bn_parameters",
    "fuse_conv_bn",
    "reparameterize",
    "standardize_kernel",
]
