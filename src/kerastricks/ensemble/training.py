"""``[train] ensemble = N`` / ``kerastricks train --ensemble N``: train N members, then ensemble them.

Each member is the recipe with ``train.seed = seed + k`` (``k = 0 .. N-1``) and ``train.ensemble = 1``, run
as its own ``kerastricks train`` process, as ``kerastricks bench`` runs them (a fresh process per run, its
log kept). The members are then combined by :func:`~kerastricks.ensemble.runs.ensemble_runs`:

.. code-block:: text

    OUT/
      recipe.toml          the ensemble's recipe (train.ensemble = N)
      members/seed<S>/     each member's own run directory (model.keras, report.json, ...)
      members/seed<S>.toml each member's recipe
      logs/seed<S>.log     each member's output
      model.keras          the ensemble model
      report.json          members and ensemble (and the wall time of the whole)
      ensemble.md          the table

``kerastricks train --resume OUT`` continues a killed ensemble: finished members are kept, a member with a
checkpoint resumes from it, the others start, then the ensemble is made.
"""

from __future__ import annotations

import copy
import dataclasses
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.errors import UserError

MEMBERS_DIR = "members"
LOGS_DIR = "logs"


class MemberFailed(UserError):
    """A member's ``kerastricks train`` process failed; its exit code is kept (1 internal, 3 diverged)."""

    def __init__(self, *args: Any, exit_code: int = 1, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.exit_code = exit_code


def member_recipe(recipe: Any, k: int) -> Any:
    """The recipe of member ``k``: ``train.seed + k``, ``train.ensemble = 1``."""
    member = copy.deepcopy(recipe)
    member.train = dataclasses.replace(recipe.train, seed=int(recipe.train.seed) + k, ensemble=1)
    return member


def check_member_data(recipe: Any) -> None:
    """Raise ``ConfigError`` before any training if members with different seeds would see different test
    sets (normalization statistics taken from a seed-dependent training split)."""
    from kerastricks.build import load_recipe_dataset
    from kerastricks.ensemble.runs import test_set_fingerprint
    from kerastricks.errors import ConfigError

    if int(recipe.train.ensemble) < 2:
        return
    first, second = (load_recipe_dataset(member_recipe(recipe, k)) for k in (0, 1))
    if test_set_fingerprint(first) != test_set_fingerprint(second):
        raise ConfigError("the members' test sets would differ: the inputs are normalized with statistics of "
                          "a training split that depends on train.seed", file=recipe.source, key="train.ensemble",
                          expected="data.normalize = 'none' or 'scale255' (or data.validation_split = 0)",
                          received=f"data.normalize = {recipe.data['normalize']!r}")


def train_ensemble(recipe: Any, out: str | Path | None = None, *, runs_root: str | Path = "runs",
                   resume: bool = False, timeout: float | None = None,
                   progress: Callable[[str], None] = print) -> dict[str, Any]:
    """Train ``recipe.train.ensemble`` members in their own processes, then ensemble them into ``out``.

    Args:
        recipe: A validated recipe with ``train.ensemble >= 2``.
        out: The ensemble's directory (absent or empty; with ``resume``, the killed ensemble's).
            Default: a new ``runs_root/<name>-ensemble-<UTC time>``.
        resume: Continue the ensemble in ``out``.
        timeout: Seconds after which a member's process is killed (and the ensemble fails).
        progress: Called with a line per member.

    Returns:
        The ensemble's report (see :func:`~kerastricks.ensemble.runs.ensemble_runs`).

    Raises:
        MemberFailed: a member's process failed (the line names its log).
    """
    from kerastricks.bench.runner import _spawn, last_line
    from kerastricks.ensemble.runs import ensemble_runs
    from kerastricks.rundir import RECIPE_FILE, REPORT_FILE, claim_out_dir, make_run_dir

    n = int(recipe.train.ensemble)
    t0 = time.perf_counter()
    check_member_data(recipe)
    if resume:
        directory = Path(out)
    else:
        directory = (claim_out_dir(out) if out is not None
                     else make_run_dir(runs_root, f"{recipe.name or 'run'}-ensemble"))
        kio.write_text(directory / RECIPE_FILE, recipe.to_toml())
    members_dir, logs = directory / MEMBERS_DIR, directory / LOGS_DIR
    members_dir.mkdir(exist_ok=True)
    logs.mkdir(exist_ok=True)
    run_dirs = []
    for k in range(n):
        member = member_recipe(recipe, k)
        seed = member.train.seed
        run_dir, log, path = members_dir / f"seed{seed}", logs / f"seed{seed}.log", members_dir / f"seed{seed}.toml"
        run_dirs.append(run_dir)
        head = f"[{k + 1}/{n}] member seed {seed}"
        if (run_dir / REPORT_FILE).exists():
            progress(f"{head}: finished before, kept")
            continue
        if not path.exists():
            kio.write_text(path, member.to_toml())
        if (run_dir / RECIPE_FILE).exists():  # started before the kill: continue it from its checkpoint
            cmd = [sys.executable, "-m", "kerastricks", "train", "--resume", str(run_dir), "--quiet"]
        else:
            cmd = [sys.executable, "-m", "kerastricks", "train", str(path), "--out", str(run_dir), "--quiet"]
        code, secs, _ = _spawn(cmd, log, timeout)
        if code != 0 or not (run_dir / REPORT_FILE).exists():
            raise MemberFailed(f"member seed {seed} failed (exit {code}): {last_line(log)}", file=str(log),
                               exit_code=code if code in (1, 3) else 1)
        test = (kio.read_json(run_dir / REPORT_FILE).get("test") or {})
        shown = next((f"test {m} {test[m]:.4f}" for m in ("accuracy", "mae", "loss") if m in test), "")
        progress(f"{head}: {secs:.1f} s · {shown}")
    reports = [kio.read_json(d / REPORT_FILE) for d in run_dirs]
    fit_time = sum(float(r.get("fit_time_s") or 0.0) for r in reports)
    extra = {
        "recipe": recipe.source,
        "seed": int(recipe.train.seed),
        "fit_time_s": fit_time,
        "epochs_run": sum(int(r.get("epochs_run") or 0) for r in reports),
        "epochs_planned": int(recipe.train.epochs) * n,
        "examples_trained": sum(int(r.get("examples_trained") or 0) for r in reports),
        "members_wall_time_s": sum(float(r.get("wall_time_s") or 0.0) for r in reports),
    }
    report = ensemble_runs(run_dirs, method=recipe.train.ensemble_method, out=None, runs_root=None,
                           recipes=[member_recipe(recipe, k) for k in range(n)], key="train.ensemble",
                           extra=extra)
    model = report.pop("model")
    report["run_dir"] = str(directory)
    report["wall_time_s"] = time.perf_counter() - t0
    from kerastricks.ensemble.runs import ENSEMBLE_REPORT, markdown
    from kerastricks.rundir import MODEL_FILE

    with kio.atomic_path(directory / MODEL_FILE) as tmp:
        model.save(tmp)
    kio.write_text(directory / ENSEMBLE_REPORT, markdown(report))
    kio.write_json(directory / REPORT_FILE, report)
    report["model"] = model
    return report


__all__ = ["MemberFailed", "member_recipe", "train_ensemble"]
