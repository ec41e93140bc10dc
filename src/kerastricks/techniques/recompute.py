"""Gradient checkpointing: recompute activations in the backward pass to save memory."""

from __future__ import annotations

import inspect
from typing import Annotated, Literal, Union

from pydantic import Field

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique


@register_technique(
    "recompute",
    description="Gradient checkpointing: keep only every k-th block's input, recompute the rest backward.",
)
class GradientCheckpointing(Technique):
    """Trade compute for activation memory (Chen et al. 2016, arXiv 1604.06174).

    ``mode="segments"`` (works under ``model.fit`` on TensorFlow, JAX and
    PyTorch) sets the zoo model's ``recompute_every`` option: every ``every``
    blocks become one :class:`~kerastricks.models.recompute.Recompute` segment,
    run under ``keras.remat`` as a pure function (batch-norm statistics
    updated once). Models with this option: ``mlp``, ``cnn1d``,
    ``resnet``.

    ``mode="keras"`` rebuilds the model under ``keras.RematScope(mode="full")``
    (every layer rematerialized). It works on the JAX and PyTorch backends
    only: on TensorFlow, ``RematScope`` fails inside ``model.fit``
    (``tf.custom_gradient`` with keyword arguments needs eager execution), so
    the recipe is rejected at validation.

    Args:
        every: Blocks per segment, or ``"auto"`` (``round(sqrt(n_blocks))``,
            Chen et al.'s memory-optimal choice).
        mode: ``"segments"`` or ``"keras"``.
    """

    def __init__(self, every: Union[Annotated[int, Field(ge=1)], Literal["auto"]] = "auto",
                 mode: Literal["segments", "keras"] = "segments") -> None:
        self.every = every
        self.mode = mode

    def check(self, recipe) -> None:
        if self.mode == "keras":
            from kerastricks.runtime import backend_name

            if (recipe.train.backend or backend_name()) == "tensorflow":  # without importing Keras
                raise ConfigError(
                    "keras.RematScope fails under model.fit on the TensorFlow backend "
                    "(tf.custom_gradient takes keyword arguments only when eager)",
                    file=recipe.source, key="techniques.recompute.mode", expected="'segments'",
                    received="keras", hint="mode = 'segments' checkpoints with tf.recompute_grad",
                )
            return
        from kerastricks.models import MODELS

        entry = MODELS.get(recipe.model["name"])
        if "recompute_every" not in inspect.signature(entry.obj).parameters:
            supported = [e.name for e in MODELS if "recompute_every" in inspect.signature(e.obj).parameters]
            raise ConfigError(
                f"model '{entry.name}' has no recompute segments", file=recipe.source, key="model.name",
                expected=f"one of {', '.join(supported)} (or techniques.recompute.mode = 'keras')",
                received=entry.name,
            )
        own = recipe.model.get("recompute_every")
        if own not in (None, 0, self.every):
            raise ConfigError(
                "set recompute in one place only", file=recipe.source, key="model.recompute_every",
                expected=f"0 or {self.every!r} (techniques.recompute.every)", received=own,
            )

    def model_options(self, options: dict, ctx: TrainContext) -> dict:
        if self.mode != "segments":
            return options
        return {**options, "recompute_every": self.every}

    def apply_to_model(self, model: keras.Model, ctx: TrainContext) -> keras.Model:
        if self.mode == "segments":
            from kerastricks.models.recompute import Recompute

            segments = sum(1 for layer in model.layers if isinstance(layer, Recompute))
            ctx.notes["recompute"] = {"segments": segments}
            return model
        with keras.RematScope(mode="full"):  # pragma: no cover - non-TensorFlow backends only
            clone = keras.models.clone_model(model)
        clone.set_weights(model.get_weights())  # pragma: no cover
        return clone  # pragma: no cover
