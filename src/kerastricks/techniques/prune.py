"""Gradual magnitude pruning during training (Zhu & Gupta 2017), through :mod:`kerastricks.pruning`."""

from __future__ import annotations

from typing import Literal, Optional

from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import Fraction, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

#: Default start of the pruning: after the first epoch (``DEFAULT_BEGIN_EPOCH``), or after a fifth of a run
#: shorter than 5 epochs (``DEFAULT_BEGIN_FRACTION`` x ``train.epochs``).
DEFAULT_BEGIN_EPOCH = 1.0
DEFAULT_BEGIN_FRACTION = 0.2
#: Default end of the pruning, as a fraction of ``train.epochs``: the second half of the run recovers at the
#: final sparsity while the rate anneals. Measured on the default recipe (15 epochs, one-cycle AdamW,
#: ``benchmarks/studies/prune_schedule.toml`` and a re-run on fresh seeds, 6 seeds in all): begin 1 / end 7.5
#: cost 0.3 points at 80% sparsity (medians) against 0.6 for the former begin 3 / end 10.5 (0.2 / 0.7 x epochs);
#: see docs/techniques/pruning.md.
DEFAULT_END_FRACTION = 0.5
STRIPPED_FILE = "model_stripped.keras"


@register_technique(
    "prune",
    description="Magnitude pruning on the Zhu & Gupta schedule (masks in the model, exact zeros); "
    "writes model_stripped.keras.",
)
class Prune(Technique):
    """Prune the smallest-magnitude kernel weights during training, sparsity rising as
    ``s_t = s_f + (s_i - s_f)(1 - (t - t0)/(t1 - t0))^3`` from ``begin`` to ``end``.

    The chosen layers are wrapped in :class:`~kerastricks.pruning.PruneLowMagnitude` (model phase): the masks
    and the step counter are model variables, so checkpoints, ``--resume`` and ``model.keras`` keep them, and
    the optimizer's variable constraints keep the pruned weights exactly zero after every update, whatever the
    optimizer. After training the report gives each layer's sparsity, and ``model_stripped.keras`` holds the
    plain Keras model (no wrappers) that ``kerastricks compress`` exports.

    Args:
        initial_sparsity: ``s_i`` in [0, 1). Default 0.
        final_sparsity: ``s_f`` in [s_i, 1). Default 0.8.
        begin_step: First mask update, in training batches (overrides ``begin_epoch``).
        begin_epoch: First mask update, in epochs (may be fractional); default 1 (``DEFAULT_BEGIN_EPOCH``), or
            ``DEFAULT_BEGIN_FRACTION`` (0.2) x ``train.epochs`` when that is earlier (runs under 5 epochs).
        end_epoch: Last mask update, in epochs; default ``DEFAULT_END_FRACTION`` (0.5) x ``train.epochs``.
        frequency: Batches between mask updates, >= 1. Default 10.
        layers: Globs of layer names to prune; default every Dense/Conv but the first conv and the classifier.
        scope: ``"layer"`` (each layer reaches the sparsity) or ``"global"`` (one magnitude threshold over all
            chosen layers). Default ``"layer"``.
        power: Exponent of the schedule, > 0. Default 3.
        structure: ``"N:M"`` (e.g. ``"2:4"``): keep the N largest of every M consecutive weights along each
            kernel's input axis, from ``begin`` on (sparsity ``1 - N/M``; the sparsity options are not used).
            Default: unstructured.

    Reference:
        Zhu & Gupta, 2017, "To prune, or not to prune", arXiv 1710.01878.
    """

    def __init__(self, initial_sparsity: Fraction = 0.0, final_sparsity: Fraction = 0.8,
                 begin_step: Optional[NonNegativeInt] = None, begin_epoch: Optional[NonNegativeFloat] = None,
                 end_epoch: Optional[PositiveFloat] = None, frequency: PositiveInt = 10,
                 layers: Optional[list[str]] = None, scope: Literal["layer", "global"] = "layer",
                 power: PositiveFloat = 3.0, structure: Optional[str] = None) -> None:
        self.initial_sparsity = initial_sparsity
        self.final_sparsity = final_sparsity
        self.begin_step = begin_step
        self.begin_epoch = begin_epoch
        self.end_epoch = end_epoch
        self.frequency = frequency
        self.layers = layers
        self.scope = scope
        self.power = power
        self.structure = structure

    def _epochs(self, epochs: int) -> tuple[float | None, float]:
        begin = None if self.begin_step is not None else (
            self.begin_epoch if self.begin_epoch is not None
            else min(DEFAULT_BEGIN_EPOCH, DEFAULT_BEGIN_FRACTION * epochs))
        end = self.end_epoch if self.end_epoch is not None else DEFAULT_END_FRACTION * epochs
        return begin, end

    def steps(self, ctx: TrainContext) -> tuple[int, int]:
        """``(begin_step, end_step)`` in training batches for the run ``ctx`` describes."""
        begin, end = self._epochs(ctx.epochs)
        begin_step = self.begin_step if begin is None else int(round(begin * ctx.steps_per_epoch))
        return begin_step, max(begin_step, int(round(end * ctx.steps_per_epoch)))

    def check(self, recipe) -> None:
        key = "techniques.prune"
        if self.final_sparsity < self.initial_sparsity:
            raise ConfigError(key=f"{key}.final_sparsity", expected=f">= initial_sparsity ({self.initial_sparsity})",
                              received=self.final_sparsity)
        if self.begin_step is not None and self.begin_epoch is not None:
            raise ConfigError("set the start of pruning in one place only", key=f"{key}.begin_step",
                              expected="begin_step or begin_epoch", received="both")
        epochs = int(recipe.train.epochs)
        begin, end = self._epochs(epochs)
        if end > epochs:
            raise ConfigError("pruning would end after the run", key=f"{key}.end_epoch",
                              expected=f"at most train.epochs ({epochs})", received=end)
        if begin is not None and begin > end:
            raise ConfigError("pruning would end before it begins", key=f"{key}.begin_epoch",
                              expected=f"at most end_epoch ({end:g})", received=begin)
        if self.structure is not None:
            from kerastricks.pruning.schedule import parse_structure

            try:
                parse_structure(self.structure)
            except ValueError:
                raise ConfigError(key=f"{key}.structure", expected="'N:M' with integers 0 < N < M (e.g. '2:4')",
                                  received=self.structure) from None
            if self.scope != "layer":
                raise ConfigError("N:M sparsity is per layer", key=f"{key}.scope",
                                  expected="'layer' with structure", received=self.scope)
        if "ema" in recipe.techniques:
            raise ConfigError("the weight average of techniques.ema is not sparse: pruned weights would come back",
                              key=key, expected="prune without ema", received="techniques.ema enabled")

    def apply_to_model(self, model, ctx: TrainContext):
        from kerastricks.pruning import prune_model

        begin_step, end_step = self.steps(ctx)
        try:
            pruned = prune_model(model, self.layers, initial_sparsity=self.initial_sparsity,
                                 final_sparsity=self.final_sparsity, begin_step=begin_step, end_step=end_step,
                                 frequency=self.frequency, power=self.power, scope=self.scope,
                                 structure=self.structure)
        except ConfigError as exc:
            raise exc.with_context(file=ctx.file, key_prefix="techniques.prune") from None
        wrapped = [layer.layer.name for layer in pruned.layers if hasattr(layer, "pruning_step")]
        ctx.notes[self.name] = {"layers": wrapped, "begin_step": begin_step, "end_step": end_step}
        return pruned

    def after_fit(self, model, ctx: TrainContext) -> None:
        from kerastricks.pruning import sparsity_summary, strip_pruning

        stripped = strip_pruning(model)
        summary = sparsity_summary(model)
        notes = ctx.notes.setdefault(self.name, {})
        notes.update(sparsity=summary["overall"], layer_sparsity=summary["layers"])
        ctx.artifacts[STRIPPED_FILE] = stripped
        if ctx.run_dir is not None:
            notes["stripped_model"] = STRIPPED_FILE
