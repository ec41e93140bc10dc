"""Snapshot ensembles: the members are the weights at the cycle ends of one run's cyclical schedule
(the callback and the cycle ends: :mod:`kerastricks.ensemble.snapshots`)."""

from __future__ import annotations

from typing import Any, Literal, Optional

import numpy as np

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import PositiveInt

SNAPSHOT_FILE = "snapshot_ensemble.keras"
#: Schedules whose rate comes back up after each cycle (the cycle ends are the rate's local minima).
CYCLICAL_SCHEDULES = ("cosine_restarts", "triangular", "triangular2", "exp_range")


@register_technique(
    "snapshot_ensemble",
    description="Snapshot ensemble (Huang et al. 2017): weights at the cycle ends of a cyclical or cosine-restart "
                "schedule, averaged into snapshot_ensemble.keras.",
)
class SnapshotEnsemble(Technique):
    """Ensemble the snapshots one run passes through at the end of each learning-rate cycle.

    With a schedule whose rate falls and then restarts high (``cosine_restarts``, ``triangular``,
    ``triangular2``, ``exp_range``), the model settles into a minimum at each cycle's low rate and the restart
    kicks it towards another one. A copy of the weights is kept at the epoch that ends nearest to each
    cycle's end (:func:`~kerastricks.ensemble.snapshots.cycle_end_epochs`) and at the last epoch; after
    training the last ``max_members`` of them become one model (:func:`~kerastricks.ensemble.build_ensemble`),
    saved as ``snapshot_ensemble.keras`` next to ``model.keras``. ``report.json`` gets the snapshot epochs and
    the ensemble's test metrics (accuracy, loss, calibration error) under ``techniques.snapshot_ensemble``;
    ``model.keras`` stays the run's own model. M members cost the training of one run and M times its inference.

    Args:
        max_members: Keep the last ``max_members`` snapshots (Huang et al. use the last M of the cycles);
            default: all.
        method: How snapshots are combined: ``"mean"`` (probabilities, as the paper), ``"vote"`` or
            ``"logit_mean"``.

    Note:
        The paper restarts a cosine every ``T/M`` iterations (``cosine_restarts`` with ``t_mul = 1``); a run
        whose length is not a whole number of cycles ends mid-cycle, and its last snapshot then sits at a
        high rate. Snapshots are taken at epoch ends, so a cycle that ends mid-epoch is taken at the nearest
        epoch end.

    Reference:
        Huang et al., 2017, "Snapshot Ensembles: Train 1, get M for free", arXiv 1704.00109.
    """

    def __init__(self, max_members: Optional[PositiveInt] = None,
                 method: Literal["mean", "vote", "logit_mean"] = "mean") -> None:
        self.max_members = max_members
        self.method = method
        self._collector: Any = None

    def check(self, recipe: Any) -> None:
        name = recipe.schedule["name"]
        if name not in CYCLICAL_SCHEDULES:
            raise ConfigError("snapshot ensembles need a schedule that restarts", key="schedule.name",
                              expected=f"one of {', '.join(CYCLICAL_SCHEDULES)} with techniques.snapshot_ensemble",
                              received=name)

    def callbacks(self, ctx: TrainContext) -> list[Any]:
        from kerastricks.ensemble.snapshots import SnapshotCollector, cycle_end_epochs
        from kerastricks.schedules import build_schedule, learning_rate_at

        recipe = ctx.recipe
        schedule = build_schedule(recipe.schedule["name"], recipe.options("schedule"),
                                  learning_rate=float(recipe.optimizer["learning_rate"]),
                                  steps_per_epoch=ctx.steps_per_epoch, epochs=ctx.epochs, file=ctx.file,
                                  validated=True)
        rates = learning_rate_at(schedule, np.arange(ctx.steps_per_epoch * ctx.epochs))
        self._collector = SnapshotCollector(cycle_end_epochs(rates, ctx.steps_per_epoch, ctx.epochs))
        return [self._collector]

    def after_fit(self, model: Any, ctx: TrainContext) -> None:
        from kerastricks.ensemble.model import build_ensemble
        from kerastricks.ensemble.runs import predict, prediction_metrics

        collector = self._collector
        pairs = list(zip(collector.taken, collector.snapshots)) if collector is not None else []
        if self.max_members is not None:
            pairs = pairs[-int(self.max_members):]
        notes: dict[str, Any] = {"cycle_end_epochs": [] if collector is None else collector.epochs,
                                 "snapshot_epochs": [e for e, _ in pairs], "members": len(pairs)}
        if pairs:
            members = []
            for _, weights in pairs:
                member = keras.models.clone_model(model)
                member.set_weights(weights)
                members.append(member)
            task = getattr(ctx.dataset, "task", "classification")
            ensemble = build_ensemble(members, self.method if task == "classification" else "mean", task,
                                      name="snapshot_ensemble")
            data = ctx.dataset
            if data is not None and getattr(data, "x_test", None) is not None and len(data.x_test):
                notes["test"] = prediction_metrics(predict(ensemble, data.x_test), data)
                notes["members_test"] = [prediction_metrics(predict(m, data.x_test), data) for m in members]
            ctx.artifacts[SNAPSHOT_FILE] = ensemble  # the trainer writes it
            if ctx.run_dir is not None:
                notes["model"] = SNAPSHOT_FILE
        ctx.notes[self.name] = notes
