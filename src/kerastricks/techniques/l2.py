"""L2 kernel regularization applied to any functional or sequential model."""

from __future__ import annotations

from kerastricks._lazy import keras
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import PositiveFloat


def add_kernel_regularization(model: keras.Model, regularizer: keras.regularizers.Regularizer,
                              include_bias: bool = False) -> tuple[keras.Model, int]:
    """A copy of ``model`` whose layers' kernels carry ``regularizer``.

    The model is rebuilt with ``keras.models.clone_model`` (so it must be
    functional or sequential) and every layer whose config has a
    ``kernel_regularizer`` gets ``regularizer`` (also ``bias_regularizer``
    with ``include_bias``). Weights are copied, so applying it to a trained
    model keeps its values.

    Returns:
        The new model and the number of layers changed.
    """
    from kerastricks.models.constraints import rebuild_layers

    reg_config = keras.regularizers.serialize(regularizer)

    def edit(layer, config):
        touched = False
        if "kernel_regularizer" in config:
            config["kernel_regularizer"] = keras.regularizers.deserialize(reg_config)
            touched = True
        if include_bias and "bias_regularizer" in config:
            config["bias_regularizer"] = keras.regularizers.deserialize(reg_config)
            touched = True
        return touched

    return rebuild_layers(model, edit, key="techniques.l2")


@register_technique(
    "l2",
    description="Add factor * sum(w^2) of every kernel to the loss (coupled L2 regularization).",
)
class L2(Technique):
    """L2 regularization of layer kernels, ``loss += factor * sum(kernel ** 2)``.

    This is the classic *coupled* penalty: with adaptive optimizers (Adam) it
    is not the same as decoupled weight decay (AdamW's ``weight_decay``,
    Loshchilov & Hutter 2019), which the ``[optimizer]`` section offers.

    Args:
        factor: Penalty coefficient (Keras's ``L2(l2=factor)``).
        include_bias: Also regularize biases.
    """

    def __init__(self, factor: PositiveFloat = 1e-4, include_bias: bool = False) -> None:
        self.factor = factor
        self.include_bias = include_bias

    def apply_to_model(self, model, ctx: TrainContext):
        new, changed = add_kernel_regularization(model, keras.regularizers.L2(self.factor), self.include_bias)
        ctx.notes.setdefault("l2", {})["layers_regularized"] = changed
        return new
