"""Ensembles: average the predictions of several trained models.

- :func:`build_ensemble` / :class:`EnsembleAverage` / :func:`combine_outputs`: the ensemble as one Keras model
  (``"mean"`` probability, ``"vote"``, ``"logit_mean"``) that saves to ``.keras``;
- :func:`ensemble_runs` (``kerastricks ensemble RUN_DIR...``): finished runs into one evaluated model;
- :func:`train_ensemble` (``[train] ensemble = N``, ``kerastricks train --ensemble N``): N seeds, each in its
  own process, then their ensemble;
- snapshot ensembles (one run, members at the cycle ends of a cyclical schedule): the ``snapshot_ensemble``
  technique (:mod:`kerastricks.techniques.snapshot_ensemble`).

Importing this package imports neither Keras nor a backend; the model names load Keras on first use.
"""

from kerastricks._lazy import lazy_exports

_EXPORTS = {
    "EnsembleAverage": "kerastricks.ensemble.model:EnsembleAverage",
    "build_ensemble": "kerastricks.ensemble.model:build_ensemble",
    "combine_outputs": "kerastricks.ensemble.model:combine_outputs",
    "ensemble_members": "kerastricks.ensemble.model:ensemble_members",
    "METHODS": "kerastricks.ensemble.model:METHODS",
    "check_runs": "kerastricks.ensemble.runs:check_runs",
    "ensemble_runs": "kerastricks.ensemble.runs:ensemble_runs",
    "train_ensemble": "kerastricks.ensemble.training:train_ensemble",
    "member_recipe": "kerastricks.ensemble.training:member_recipe",
}
__getattr__ = lazy_exports(__name__, _EXPORTS)
__all__ = sorted(_EXPORTS)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
