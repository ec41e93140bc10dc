"""``kerastricks ensemble RUN_DIR...``: average finished runs into one model, evaluated on their common test set.

:func:`check_runs` reads only the run directories' files (no Keras): every directory must hold a finished run
(``recipe.toml``, ``model.keras``), and the runs must share their task, dataset, class count, input shape and
test-set size. :func:`ensemble_runs` then loads each run's data in the run's own way (its recipe, its seed),
checks that the test sets are the same arrays (a fingerprint of inputs and labels: a recipe that normalizes with
statistics of a seed-dependent training split gives each run different test inputs, and is refused), loads the
members, builds the ensemble (:func:`~kerastricks.ensemble.model.build_ensemble`), evaluates every member and the
ensemble, and only then writes the output directory:

.. code-block:: text

    OUT/
      model.keras     the ensemble: loads and predicts after ``import kerastricks`` alone
      recipe.toml     the first member's recipe (``kerastricks evaluate OUT`` evaluates the ensemble)
      report.json     per member and for the ensemble: accuracy, balanced accuracy, macro-F1, loss, ECE
      ensemble.md     the same as a Markdown table
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.errors import ConfigError, RunDirError, shorten

ENSEMBLE_REPORT = "ensemble.md"
#: What every member's report must agree on (``report.json`` -> ``dataset``).
SHARED_DATA = ("task", "name", "num_classes", "output_dim", "input_shape", "n_test")
#: Test metrics in the report and table, in order.
CLASSIFICATION_METRICS = ("accuracy", "balanced_accuracy", "macro_f1", "loss", "ece")
REGRESSION_METRICS = ("mae", "rmse", "r2")


def check_runs(run_dirs: Sequence[str | Path], method: str = "mean", *, key: str = "RUN_DIR") -> list[Any]:
    """Check (without Keras) that ``run_dirs`` are finished runs that can be ensembled; return their recipes.

    Raises:
        RunDirError: a directory is missing, or lacks ``recipe.toml`` or ``model.keras``.
        ConfigError: fewer than two runs, a run named twice, or runs whose data differ (task, dataset, class
            count, input shape, test-set size), or ``method`` does not suit the task.
    """
    from kerastricks.evaluate import check_run
    from kerastricks.rundir import REPORT_FILE

    dirs = [Path(d) for d in run_dirs]
    if len(dirs) < 2:
        raise ConfigError("an ensemble needs at least two runs", key=key, expected="two or more run directories",
                          received=", ".join(map(str, dirs)) or "none")
    seen: dict[Path, Path] = {}
    for d in dirs:
        real = d.resolve()
        if real in seen:
            raise ConfigError("a run is named twice", key=key, expected="distinct run directories",
                              received=f"{seen[real]} and {d}")
        seen[real] = d
    recipes = []
    summaries = []
    for d in dirs:
        try:
            recipes.append(check_run(d))
        except RunDirError as exc:
            raise type(exc)(exc.message, file=exc.file, key=key, expected=exc.expected, received=exc.received,
                            hint=exc.hint) from None
        report = d / REPORT_FILE
        summary = None
        if report.exists():
            try:
                summary = (kio.read_json(report).get("dataset") or None)
            except (OSError, ValueError):
                raise RunDirError("unreadable report", file=str(report), key=key, expected="strict JSON") from None
        summaries.append(summary)
    ref = next(((d, s) for d, s in zip(dirs, summaries) if s), None)
    if ref is not None:
        for d, summary in zip(dirs, summaries):
            if not summary:
                continue
            for field in SHARED_DATA:
                if summary.get(field) != ref[1].get(field):
                    what = {"n_test": "test-set size", "num_classes": "class count", "output_dim": "outputs",
                            "name": "dataset", "task": "task", "input_shape": "input shape"}[field]
                    raise ConfigError(f"the runs' {what}s differ", file=str(d / REPORT_FILE), key=key,
                                      expected=f"{field} = {ref[1].get(field)} (as in {ref[0]})",
                                      received=f"{field} = {summary.get(field)}")
    task = next((s["task"] for s in summaries if s and s.get("task")), None)
    if task == "regression" and method != "mean":
        raise ConfigError("a regression ensemble averages its members' outputs", key="--method",
                          expected="mean", received=method)
    return recipes


def test_set_fingerprint(dataset: Any) -> str:
    """A hash of the test inputs and labels, as the model sees them (after normalization)."""
    import numpy as np

    h = hashlib.sha256()
    for a in (dataset.x_test, dataset.y_test):
        a = np.ascontiguousarray(a)
        h.update(str((a.dtype.str, a.shape)).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _load_member(run_dir: Path, dataset: Any, key: str) -> Any:
    import keras

    from kerastricks.rundir import MODEL_FILE

    path = run_dir / MODEL_FILE
    try:
        model = keras.saving.load_model(path)
    except Exception as exc:
        raise RunDirError(f"cannot load model ({type(exc).__name__}: {shorten(str(exc), 120)})", file=str(path),
                          key=key) from None
    expected_in, got_in = tuple(model.input_shape[1:]), tuple(dataset.input_shape)
    if expected_in != got_in or model.output_shape[-1] != dataset.output_dim:
        raise ConfigError("the model does not fit the runs' data", file=str(path), key=key,
                          expected=f"inputs {got_in} with {dataset.output_dim} outputs",
                          received=f"inputs {expected_in} with {model.output_shape[-1]} outputs")
    return model


def predict(model: Any, x: Any, batch_size: int = 256) -> Any:
    """``model(x)`` in inference mode, batch by batch, as numpy (eager calls: no compiled predict function per
    member, so no retracing of one per model)."""
    import keras
    import numpy as np

    if len(x) == 0:
        return np.zeros((0, *model.output_shape[1:]), dtype=np.float32)
    return np.concatenate([keras.ops.convert_to_numpy(model(x[i:i + batch_size], training=False))
                           for i in range(0, len(x), batch_size)])


def prediction_metrics(outputs: Any, dataset: Any) -> dict[str, Any]:
    """Test metrics from a model's outputs (logits for classification)."""
    import numpy as np

    from kerastricks.evaluation import (
        classification_metrics,
        expected_calibration_error,
        negative_log_likelihood,
        regression_metrics,
        softmax,
    )

    y = dataset.y_test
    if dataset.task != "classification":
        return {**regression_metrics(y, outputs), "examples": int(len(y))}
    full = classification_metrics(y, np.argmax(outputs, axis=-1), dataset.num_classes, dataset.class_names)
    return {"accuracy": full["accuracy"], "balanced_accuracy": full["balanced_accuracy"],
            "macro_f1": full["macro_f1"], "loss": negative_log_likelihood(outputs, y),
            "ece": expected_calibration_error(softmax(outputs), y), "examples": int(len(y))}


def ensemble_runs(run_dirs: Sequence[str | Path], *, method: str = "mean", out: str | Path | None = None,
                  runs_root: str | Path = "runs", recipes: Sequence[Any] | None = None, key: str = "RUN_DIR",
                  recipe_toml: str | None = None, extra: dict[str, Any] | None = None,
                  progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Ensemble finished runs: evaluate members and ensemble on the common test set; write ``out``.

    Args:
        run_dirs: Two or more finished run directories.
        method: ``"mean"``, ``"vote"`` or ``"logit_mean"`` (see :mod:`kerastricks.ensemble.model`).
        out: The output directory (absent or empty); default ``runs_root/<name>-ensemble-<UTC time>``.
            ``None`` with ``runs_root=None`` writes nothing.
        recipes: The runs' recipes from :func:`check_runs` (checked again if not given).
        recipe_toml: What ``OUT/recipe.toml`` holds (default: the first member's recipe).
        extra: More entries for ``report.json`` (``kerastricks train --ensemble`` adds its timings).
        progress: Called with a line per step.

    Returns:
        The report (also ``OUT/report.json``), with ``"model"``: the ensemble model (not in the file).
    """
    from kerastricks.build import load_recipe_dataset
    from kerastricks.rundir import MODEL_FILE, RECIPE_FILE, REPORT_FILE, check_out_dir, check_runs_root
    from kerastricks.runtime import prepared

    dirs = [Path(d) for d in run_dirs]
    if recipes is None:
        recipes = check_runs(dirs, method, key=key)
    if out is not None:
        check_out_dir(out)
    elif runs_root is not None:
        check_runs_root(runs_root)
    t0 = time.perf_counter()
    with prepared(recipes[0].train, file=recipes[0].source):
        datasets, prints = {}, {}
        for d, recipe in zip(dirs, recipes):
            config = (repr(recipe.to_dict()["data"]), recipe.train.seed)
            if config not in datasets:
                datasets[config] = load_recipe_dataset(recipe)
            prints[d] = (test_set_fingerprint(datasets[config]), datasets[config])
        ref_print, dataset = prints[dirs[0]]
        for d in dirs[1:]:
            if prints[d][0] != ref_print:
                raise ConfigError("the runs' test sets differ (inputs or labels, after normalization)",
                                  file=str(d / RECIPE_FILE), key=key,
                                  expected=f"the test set of {dirs[0]} (fingerprint {ref_print})",
                                  received=f"fingerprint {prints[d][0]} ({recipes[dirs.index(d)].data['name']}, "
                                           f"normalize = {recipes[dirs.index(d)].data['normalize']})",
                                  hint="normalization statistics from seed-dependent training splits differ; "
                                       "use data.normalize = 'none' or the same train.seed")
        if method != "mean" and dataset.task != "classification":
            raise ConfigError("a regression ensemble averages its members' outputs", key="--method",
                              expected="mean", received=method)
        members = [_load_member(d, dataset, key) for d in dirs]
        from kerastricks.ensemble.model import build_ensemble

        batch = max(256, int(recipes[0].train.batch_size))
        rows = []
        for d, recipe, member in zip(dirs, recipes, members):
            outputs = predict(member, dataset.x_test, batch)
            rows.append({"run_dir": str(d), "seed": int(recipe.train.seed), "params": int(member.count_params()),
                         "test": prediction_metrics(outputs, dataset)})
            if progress is not None:
                progress(f"  member {d}: {_short(rows[-1]['test'])}")
        model = build_ensemble(members, method, dataset.task)
        outputs = predict(model, dataset.x_test, batch)
        test = prediction_metrics(outputs, dataset)
    names = CLASSIFICATION_METRICS if dataset.task == "classification" else REGRESSION_METRICS
    member_mean = {k: sum(r["test"][k] for r in rows) / len(rows) for k in names}
    report: dict[str, Any] = {
        "kind": "ensemble",
        "name": f"{recipes[0].name}-ensemble",
        "method": method,
        "n_members": len(rows),
        "members": rows,
        "member_mean": member_mean,
        "test": test,
        "test_fingerprint": ref_print,
        "params": int(model.count_params()),
        "dataset": dataset.summary(),
        "ensemble_time_s": time.perf_counter() - t0,
        **(extra or {}),
    }
    if out is None and runs_root is None:
        report["run_dir"] = None
        report["model"] = model
        return report
    from kerastricks.rundir import claim_out_dir, make_run_dir

    directory = claim_out_dir(out, hint="choose a new --out") if out is not None else \
        make_run_dir(runs_root, report["name"])
    report["run_dir"] = str(directory)
    with kio.atomic_path(directory / MODEL_FILE) as tmp:
        model.save(tmp)
    if not (directory / RECIPE_FILE).exists():
        kio.write_text(directory / RECIPE_FILE, recipe_toml if recipe_toml is not None else recipes[0].to_toml())
    kio.write_text(directory / ENSEMBLE_REPORT, markdown(report))
    kio.write_json(directory / REPORT_FILE, report)
    report["model"] = model
    return report


def _short(test: dict[str, Any]) -> str:
    keys = [k for k in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS) if k in test]
    return " · ".join(f"{k} {test[k]:.4f}" for k in keys)


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table: each member, the members' mean, and the ensemble."""
    test = report["test"]
    names = [k for k in (*CLASSIFICATION_METRICS, *REGRESSION_METRICS) if k in test]
    head = ["model", *names]
    lines = [f"Ensemble of {report['n_members']} runs ({report['method']}) on the {report['dataset']['name']} "
             f"test set ({test['examples']} examples); loss is the test cross-entropy (no label smoothing), "
             "ece the expected calibration error (15 bins)." if "ece" in test else
             f"Ensemble of {report['n_members']} runs ({report['method']}) on the {report['dataset']['name']} "
             f"test set ({test['examples']} examples).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in report["members"]:
        label = f"{Path(row['run_dir']).name} (seed {row['seed']})"
        lines.append("| " + " | ".join([label, *(f"{row['test'][k]:.4f}" for k in names)]) + " |")
    lines.append("| " + " | ".join(["members (mean)", *(f"{report['member_mean'][k]:.4f}" for k in names)]) + " |")
    lines.append("| " + " | ".join([f"**ensemble ({report['method']})**", *(f"**{test[k]:.4f}**" for k in names)])
                 + " |")
    return "\n".join(lines) + "\n"


__all__ = ["check_runs", "ensemble_runs", "markdown", "prediction_metrics", "test_set_fingerprint"]
