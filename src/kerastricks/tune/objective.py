"""What a study optimizes: ``--objective METRIC[:max|min]``, read from a finished trial's run directory.

Two kinds of metric:

- **per epoch** (``val_accuracy``, ``val_loss``, ``accuracy``, ``loss``, ``mae``, ``val_mae``): the value at the
  epoch whose weights the run kept (``train.monitor``: the best epoch, or the last one), from ``metrics.csv``.
  These values are also reported to the trial after every epoch, which is what the pruner sees.
- **per run**, from ``report.json``: ``time_to_target_s`` (needs ``train.target``; a run that never reaches it
  scores infinity), ``wall_time_s``, ``fit_time_s``, ``examples_per_s``, ``params``.

The test set is never an objective: a study that selects on it reports an optimistic test score.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerastricks.errors import ConfigError
from kerastricks.recipes import Recipe, metric_mode
from kerastricks.recipes.schema import LOGGED_METRICS

EPOCH_METRICS = tuple(f"{p}{m}" for p in ("val_", "") for m in LOGGED_METRICS)
#: report.json figures and their natural direction.
RUN_METRICS = {"time_to_target_s": "min", "wall_time_s": "min", "fit_time_s": "min", "examples_per_s": "max",
               "params": "min"}


@dataclass(frozen=True)
class Objective:
    metric: str
    direction: str  # "max" or "min"

    @property
    def per_epoch(self) -> bool:
        return self.metric in EPOCH_METRICS

    @property
    def optuna_direction(self) -> str:
        return "maximize" if self.direction == "max" else "minimize"

    def text(self) -> str:
        return f"{self.metric}:{self.direction}"

    def worst(self) -> float:
        return -math.inf if self.direction == "max" else math.inf


def parse_objective(text: str, recipe: Recipe) -> Objective:
    """``METRIC[:max|min]``, checked against what the recipe's runs log."""
    metric, sep, direction = text.strip().partition(":")
    metric = metric.strip()
    known = (*EPOCH_METRICS, *RUN_METRICS)
    if metric not in known:
        hint = "the test set is never an objective: select on validation data" if metric.startswith("test") else None
        raise ConfigError("unknown objective", key="--objective", expected=f"one of {', '.join(known)}",
                          received=metric, hint=hint)
    if sep and direction not in ("max", "min"):
        raise ConfigError(key="--objective", expected=f"{metric}:max or {metric}:min", received=text)
    if metric in EPOCH_METRICS:
        recipe.require_metric(metric, key="--objective")
        direction = direction or metric_mode(metric)
    else:
        if metric == "time_to_target_s" and recipe.train.target is None:
            raise ConfigError("time_to_target_s needs a target", file=recipe.source, key="--objective",
                              expected="train.target in the recipe (or --set 'train.target={metric=\"val_accuracy\","
                                       "value=0.98}')", received="no train.target")
        direction = direction or RUN_METRICS[metric]
    return Objective(metric, direction)


def read_metrics(path: str | Path) -> list[dict[str, float]]:
    """``metrics.csv`` rows as floats (an absent or half-written file reads as no rows)."""
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for row in csv.DictReader(fh):
                parsed = {}
                for key, value in row.items():
                    try:
                        parsed[key] = float(value)
                    except (TypeError, ValueError):
                        continue
                if "epoch" in parsed:
                    rows.append(parsed)
    except OSError:
        return []
    return rows


def value_of(objective: Objective, report: dict[str, Any], rows: list[dict[str, float]]) -> float:
    """The objective's value for a finished run (non-finite values become the worst value)."""
    if objective.per_epoch:
        epoch = (report.get("best") or {}).get("epoch")
        row = next((r for r in rows if int(r["epoch"]) == epoch), rows[-1] if rows else {})
        value = row.get(objective.metric)
    else:
        value = report.get(objective.metric)
    if value is None or not math.isfinite(float(value)):
        return objective.worst()
    return float(value)
