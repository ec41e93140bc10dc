"""What a study writes into its directory: ``trials.csv``, ``study.md``, ``best.toml`` and plots."""

from __future__ import annotations

import csv
import io
import math
import warnings
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.tune.space import toml_value, trial_recipe
from kerastricks.tune.study import TuneSpec
from kerastricks.tune.worker import REASON, counted

TRIALS_CSV = "trials.csv"
STUDY_MD = "study.md"
BEST_TOML = "best.toml"
HISTORY_PNG = "history.png"
IMPORTANCES_PNG = "importances.png"
PARETO_PNG = "pareto.png"
TOP = 10


def _duration(t: Any) -> float | None:
    if t.datetime_start and t.datetime_complete:
        return (t.datetime_complete - t.datetime_start).total_seconds()
    return None


def reason(t: Any) -> str:
    """Why a trial was pruned or failed ('' for a completed or running one)."""
    if t.state.name in ("COMPLETE", "RUNNING"):
        return ""
    return t.user_attrs.get(REASON) or ("pruned" if t.state.name == "PRUNED" else "failed (no reason recorded)")


def trial_rows(spec: TuneSpec, trials: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.name}
        for i, o in enumerate(spec.objectives):
            row[o.metric] = t.values[i] if t.values is not None and len(t.values) > i else None
        row["test_accuracy"] = t.user_attrs.get("test_accuracy")
        row["duration_s"] = _duration(t)
        row["epochs"] = (len(t.user_attrs.get("epoch_seen_s") or []) or None)
        row["counted"] = counted(t)
        row["reason"] = reason(t)
        for p in spec.params:
            row[p.key] = t.params.get(p.key)
        row["run_dir"] = t.user_attrs.get("run_dir")
        row["worker"] = t.user_attrs.get("worker")
        rows.append(row)
    return rows


def write_trials_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows({k: ("" if v is None else v) for k, v in r.items()} for r in rows)
    kio.write_text(path, buffer.getvalue())


def best_trials(spec: TuneSpec, study: Any) -> list[Any]:
    """Single objective: completed trials, best first. Several: the Pareto front, by the first objective."""
    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return []
    first = spec.objectives[0]
    sign = -1.0 if first.direction == "max" else 1.0
    if len(spec.objectives) == 1:
        return sorted(complete, key=lambda t: (sign * t.values[0], t.number))
    return sorted(study.best_trials, key=lambda t: (sign * t.values[0], t.number))


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return toml_value(value)
    if isinstance(value, float):
        return "inf" if math.isinf(value) else f"{value:.4g}"
    return str(value)


def markdown(spec: TuneSpec, study: Any, rows: list[dict[str, Any]], best: list[Any]) -> str:
    states: dict[str, int] = {}
    for r in rows:
        states[r["state"]] = states.get(r["state"], 0) + 1
    multi = len(spec.objectives) > 1
    lines = [f"# Study `{spec.study_name}`", ""]
    if spec.command:
        lines += [f"Command: `{spec.command}`", ""]
    lines += [
        f"- base recipe: `{spec.base.source}`" + (f" with `--set {' '.join(spec.fixed)}`" if spec.fixed else ""),
        f"- objectives: {', '.join(o.text() for o in spec.objectives)}",
        f"- sampler: {spec.sampler_text}; pruner: {spec.pruner_text}; storage: `{spec.storage_url}`",
        f"- space: `{spec.space_file}`: " + "; ".join(f"`{p.key}`" for p in spec.params),
        "- trials: " + ", ".join(f"{n} {s.lower()}" for s, n in sorted(states.items())),
        "",
        "## " + ("Pareto front" if multi else f"Best trials (top {TOP})"),
        "",
    ]
    if not best:
        lines += ["No trial completed.", ""]
    else:
        head = ["trial", *(o.metric for o in spec.objectives), "test_accuracy", "duration_s",
                *(p.key for p in spec.params)]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        by_number = {r["number"]: r for r in rows}
        for t in best if multi else best[:TOP]:
            r = by_number[t.number]
            lines.append("| " + " | ".join(_fmt(r.get(h)) if h != "trial" else str(t.number) for h in head) + " |")
        lines += ["", f"`{BEST_TOML}` is trial {best[0].number}'s recipe: `kerastricks train {spec.out / BEST_TOML}`",
                  ""]
    stopped = [r for r in rows if r["state"] in ("PRUNED", "FAIL")]
    if stopped:
        lines += ["## Pruned and failed trials", "", "| trial | state | reason |", "|---|---|---|"]
        lines += [f"| {r['number']} | {r['state']} | {r['reason']} |" for r in stopped]
        lines.append("")
    return "\n".join(lines)


def best_toml(spec: TuneSpec, trial: Any) -> str:
    recipe = trial_recipe(spec.base_toml, dict(trial.params), source=f"trial {trial.number}")
    values = ", ".join(f"{o.metric} {_fmt(v)}" for o, v in zip(spec.objectives, trial.values))
    params = "\n".join(f"#   {k} = {toml_value(v)}" for k, v in trial.params.items())
    return (f"# best trial {trial.number} of study {spec.study_name} ({values}); searched values:\n{params}\n"
            f"# run it with: kerastricks train {BEST_TOML}\n" + recipe.to_toml())


def plots(spec: TuneSpec, study: Any, out: Path) -> list[str]:
    """Optuna's matplotlib figures (each skipped when the study has too little to show)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt
    from optuna.visualization import matplotlib as ovm

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if not complete:
        return []
    multi = len(spec.objectives) > 1
    first = spec.objectives[0].metric
    target = (lambda t: t.values[0]) if multi else None
    jobs = [(HISTORY_PNG, lambda: ovm.plot_optimization_history(study, target=target, target_name=first))]
    varied = [p.key for p in spec.params if len({repr(t.params.get(p.key)) for t in complete}) > 1]
    if len(complete) >= 2 and varied:
        jobs.append((IMPORTANCES_PNG, lambda: ovm.plot_param_importances(study, target=target, target_name=first)))
    if multi:
        names = [o.metric for o in spec.objectives]
        jobs.append((PARETO_PNG, lambda: ovm.plot_pareto_front(study, target_names=names)))
    written = []
    for name, make in jobs:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental
            try:
                ax = make()
            except Exception:  # e.g. importances of values that never vary: a missing plot must not lose the study
                continue
        fig = ax.figure if hasattr(ax, "figure") else ax.flat[0].figure
        fig.set_size_inches(8, 5)
        fig.tight_layout()
        with kio.atomic_path(out / name) as tmp:
            fig.savefig(tmp, dpi=100)
        plt.close(fig)
        written.append(name)
    return written


def write_outputs(spec: TuneSpec, study: Any) -> dict[str, Any]:
    """Write every output from the study's current state; returns a summary."""
    out = spec.out
    trials = study.get_trials(deepcopy=False)
    rows = trial_rows(spec, trials)
    write_trials_csv(out / TRIALS_CSV, rows)
    best = best_trials(spec, study)
    kio.write_text(out / STUDY_MD, markdown(spec, study, rows, best))
    if best:
        kio.write_text(out / BEST_TOML, best_toml(spec, best[0]))
    figures = plots(spec, study, out)
    return {"rows": rows, "best": [t.number for t in best], "plots": figures,
            "files": [TRIALS_CSV, STUDY_MD] + ([BEST_TOML] if best else []) + figures}
