"""Gradient clipping as one recipe choice: Keras's norm/value/global-norm modes or AGC.

Recipes pick one mode in one place::

    [techniques.clip]
    mode = "global_norm"     # or "norm", "value", "agc"
    threshold = 1.0          # norm / value / global_norm

    [techniques.agc]         # shorthand for clip mode "agc" with the NFNets rule
    clipping = 0.01

The plain modes set Keras's own optimizer options (``clipnorm``,
``clipvalue``, ``global_clipnorm``); ``agc`` wraps the built optimizer in
:class:`~kerastricks.optimizers.AdaptiveGradientClipping`, leaving the model's
final classifier unclipped unless ``exclude`` says otherwise.
"""

from __future__ import annotations

import re
from typing import Literal

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import PositiveFloat

#: clip mode -> the Keras optimizer option it sets.
KERAS_OPTIONS = {"norm": "clipnorm", "value": "clipvalue", "global_norm": "global_clipnorm"}


def final_layer_paths(model: keras.Model) -> list[str]:
    """Paths of the trainable variables of ``model``'s last layer that has any (its classifier)."""
    for layer in reversed(model.layers):
        if layer.trainable_weights:
            return [v.path for v in layer.trainable_weights]
    return []


def _check_single_place(recipe, key: str) -> None:
    for option in KERAS_OPTIONS.values():
        own = recipe.optimizer.get(option)
        if own is not None:
            raise ConfigError(
                "set gradient clipping in one place only",
                file=recipe.source,
                key=f"optimizer.{option}",
                expected=f"unset (clipping comes from {key})",
                received=own,
            )


@register_technique(
    "clip",
    description="Gradient clipping, one mode: Keras's norm / value / global_norm, or adaptive (agc).",
)
class Clip(Technique):
    """Clip gradients in one of four modes.

    ``norm``, ``value`` and ``global_norm`` are Keras's ``clipnorm`` (each
    gradient's norm <= threshold), ``clipvalue`` (each entry in
    [-threshold, threshold]) and ``global_clipnorm`` (the norm of all
    gradients together <= threshold). ``agc`` is adaptive gradient clipping
    (Brock et al. 2021): each output unit's gradient norm is kept below
    ``clipping * max(||W_i||, eps)``.

    Args:
        mode: ``"norm"``, ``"value"``, ``"global_norm"`` or ``"agc"``.
        threshold: The bound of the plain modes (> 0); ``agc`` ignores it.
        clipping: AGC's ``lambda`` (> 0); the plain modes ignore it.
        eps: AGC's floor of the parameter norm (> 0).
        exclude: AGC: regular expressions of variable paths left unclipped.
            Default (unset): the model's final layer, as in NFNets; ``[]``
            clips every variable.
    """

    def __init__(
        self,
        mode: Literal["norm", "value", "global_norm", "agc"] = "global_norm",
        threshold: PositiveFloat = 1.0,
        clipping: PositiveFloat = 0.01,
        eps: PositiveFloat = 1e-3,
        exclude: list[str] | None = None,
    ) -> None:
        self.mode = mode
        self.threshold = threshold
        self.clipping = clipping
        self.eps = eps
        self.exclude = exclude
        self._patterns: list[str] = list(exclude or [])

    def check(self, recipe) -> None:
        _check_single_place(recipe, f"techniques.{self.name}")
        for pattern in self.exclude or []:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ConfigError(f"not a regular expression ({exc})", file=recipe.source,
                                  key=f"techniques.{self.name}.exclude", received=pattern) from None
        if "clip" in recipe.techniques and "agc" in recipe.techniques:
            raise ConfigError(
                "enable one of the techniques 'clip' and 'agc'",
                file=recipe.source,
                key="techniques.agc",
                expected="either techniques.clip or techniques.agc (clip with mode = 'agc')",
                received="both",
            )

    def optimizer_options(self, options: dict, ctx: TrainContext) -> dict:
        if self.mode == "agc":
            return options
        return {**options, KERAS_OPTIONS[self.mode]: self.threshold}

    def apply_to_model(self, model, ctx: TrainContext):
        if self.mode == "agc" and self.exclude is None:
            self._patterns = [f"^{re.escape(path)}$" for path in final_layer_paths(model)]
            ctx.notes.setdefault(self.name, {})["unclipped"] = final_layer_paths(model)
        return model

    def apply_to_optimizer(self, optimizer, ctx: TrainContext):
        if self.mode != "agc":
            return optimizer
        from kerastricks.optimizers.agc import AdaptiveGradientClipping

        return AdaptiveGradientClipping(optimizer, clipping=self.clipping, eps=self.eps, exclude=self._patterns)


@register_technique(
    "agc",
    description="Adaptive gradient clipping (NFNets): unit-wise, relative to the weight norm; classifier unclipped.",
)
class AGCTechnique(Clip):
    """Adaptive gradient clipping with the NFNets rule (``clip`` with ``mode = "agc"``).

    Every gradient is clipped unit-wise to ``clipping * max(||W_i||, eps)``
    before the optimizer sees it, except the model's final layer (the
    classifier), which NFNets leave unclipped.

    Args:
        clipping: ``lambda`` (> 0). NFNets use 0.01 at batch size 4096 and
            larger values for smaller batches.
        eps: Floor of the parameter norm (> 0).
        exclude: Regular expressions of variable paths left unclipped.
            Default (unset): the model's final layer; ``[]`` clips everything.

    Reference:
        Brock, De, Smith & Simonyan, 2021, arXiv:2102.06171.
    """

    def __init__(self, clipping: PositiveFloat = 0.01, eps: PositiveFloat = 1e-3,
                 exclude: list[str] | None = None) -> None:
        super().__init__(mode="agc", clipping=clipping, eps=eps, exclude=exclude)
