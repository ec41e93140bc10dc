"""A study: its definition (base recipe, space, objectives), its storage, and the checks made before any trial.

A study is defined by its base recipe (after ``--set``), its search space and its objectives. The definition is
stored with the study (Optuna study user attribute ``kerastricks``) and in the study directory (``tune.json``);
running the same command again continues the study, on this machine or any other that reaches the storage, and
a different definition under the same study name is refused before any trial runs.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kerastricks import io as kio
from kerastricks.errors import ConfigError, RunDirError, shorten
from kerastricks.recipes import Recipe, load_recipe
from kerastricks.tune.objective import Objective, parse_objective
from kerastricks.tune.space import Param, check_space, grid_space, read_space, signature

SAMPLERS = ("tpe", "random", "grid", "cmaes")
PRUNERS = ("median", "halving", "hyperband", "none")
#: Samplers that draw at random before they model the space (``--startup-trials``).
STARTUP_SAMPLERS = ("tpe", "cmaes")
TUNE_JSON = "tune.json"
STUDY_DB = "study.db"
ATTR = "kerastricks"
DEFAULT_TRIALS = 20
DEFAULT_ROOT = "tune"
#: Seconds without a heartbeat after which a running trial counts as killed (environment override, e.g. for tests).
GRACE_ENV = "KERASTRICKS_TUNE_GRACE_S"
DEFAULT_GRACE_S = 60.0


@dataclass
class TuneSpec:
    """A resolved, validated study definition plus this command's settings."""

    base: Recipe
    params: list[Param]
    objectives: list[Objective]
    space_file: str
    fixed: list[str]
    study_name: str
    storage_url: str
    out: Path
    sampler: str = "tpe"
    pruner: str = "median"
    trials: int | None = DEFAULT_TRIALS
    timeout: float | None = None
    workers: int = 1
    seed: int | None = None
    startup_trials: int | None = None
    pruner_warmup: int | None = None
    command: str = ""
    grid: dict[str, list[Any]] | None = field(default=None, repr=False)

    @property
    def base_toml(self) -> str:
        return self.base.to_toml()

    @property
    def sampler_text(self) -> str:
        """The sampler as shown to the user: ``tpe``, ``tpe (4 startup trials)``."""
        return self.sampler + (f" ({self.startup_trials} startup trials)" if self.startup_trials else "")

    @property
    def warmup_epochs(self) -> int | None:
        """Epochs a trial runs before the pruner may stop it (``--pruner-warmup``): the median pruner's default
        is a quarter of the base recipe's epochs, at least 1, so a one-cycle schedule (default ``pct_start``
        0.25) is past its rising phase before it is judged; halving and hyperband keep Optuna's defaults."""
        if self.pruner_warmup is not None or self.pruner != "median":
            return self.pruner_warmup
        return default_warmup(self.base.train.epochs)

    @property
    def pruner_text(self) -> str:
        """The pruner as shown to the user: ``median (warm-up 3 epochs)``."""
        warm = self.warmup_epochs
        return self.pruner + (f" (warm-up {warm} epoch{'s' if warm != 1 else ''})" if warm is not None else "")

    @property
    def prunes(self) -> bool:
        return self.pruner != "none"

    def definition(self) -> dict[str, Any]:
        """What must match when a study is continued."""
        return {"space": signature(self.params), "objectives": [o.text() for o in self.objectives],
                "base_recipe": self.base_toml}

    def to_json(self) -> dict[str, Any]:
        return {"study": self.study_name, "storage": self.storage_url, "space_file": self.space_file,
                "fixed": self.fixed, "recipe_source": self.base.source, **self.definition()}


def default_warmup(epochs: int) -> int:
    """The median pruner's default warm-up: a quarter of the epochs (rounded up), at least 1."""
    return max(1, math.ceil(epochs / 4))


def grace_seconds() -> float:
    text = os.environ.get(GRACE_ENV, "")
    try:
        value = float(text) if text else DEFAULT_GRACE_S
    except ValueError:
        value = DEFAULT_GRACE_S
    return value if math.isfinite(value) and value > 0 else DEFAULT_GRACE_S


def default_storage(out: Path) -> str:
    return f"sqlite:///{(out / STUDY_DB).resolve()}"


def resolve_tune(
    recipe: str | None = None,
    *,
    preset: str | None = None,
    space: str,
    overrides: list[str] = (),
    objectives: list[str] = (),
    sampler: str = "tpe",
    pruner: str | None = None,
    storage: str | None = None,
    study: str | None = None,
    trials: int | None = None,
    timeout: float | None = None,
    workers: int = 1,
    seed: int | None = None,
    startup_trials: int | None = None,
    pruner_warmup: int | None = None,
    out: str | Path | None = None,
    root: str | Path = DEFAULT_ROOT,
    command: str = "",
) -> TuneSpec:
    """Validate everything a study needs without touching its storage (see :func:`open_study` for that)."""
    base = load_recipe(recipe, preset=preset, overrides=list(overrides))
    params = read_space(space)
    check_space(params, base.to_toml(), fixed=list(overrides), file=str(space))
    objs = [parse_objective(text, base) for text in (objectives or [_default_objective(base)])]
    metrics = [o.metric for o in objs]
    if len(set(metrics)) != len(metrics):
        raise ConfigError("objective given twice", key="--objective", expected="distinct metrics", received=metrics)
    if sampler not in SAMPLERS:
        raise ConfigError(key="--sampler", expected=f"one of {', '.join(SAMPLERS)}", received=sampler)
    multi = len(objs) > 1
    if pruner is None:
        pruner = "median" if not multi and objs[0].per_epoch else "none"
    if pruner not in PRUNERS:
        raise ConfigError(key="--pruner", expected=f"one of {', '.join(PRUNERS)}", received=pruner)
    if pruner != "none" and multi:
        raise ConfigError("Optuna prunes single-objective studies only", key="--pruner",
                          expected="--pruner none with several objectives", received=pruner)
    if pruner != "none" and not objs[0].per_epoch:
        raise ConfigError(f"'{objs[0].metric}' is known only when a run ends, so nothing can be pruned",
                          key="--pruner", expected="--pruner none, or a per-epoch objective such as val_accuracy",
                          received=pruner)
    grid = None
    if sampler == "grid":
        grid = grid_space(params, str(space))
        size = math.prod(len(v) for v in grid.values())
        trials = size if trials is None else min(trials, size)
    if sampler == "cmaes":
        if multi:
            raise ConfigError("CMA-ES optimizes one objective", key="--sampler",
                              expected="tpe, random or grid with several objectives", received=sampler)
        try:
            import cmaes  # noqa: F401
        except ImportError:
            raise ConfigError("the CMA-ES sampler needs the 'cmaes' package", key="--sampler",
                              hint='pip install "kerastricks[tune]"') from None
    if startup_trials is not None and sampler not in STARTUP_SAMPLERS:
        raise ConfigError(f"the {sampler} sampler has no startup trials", key="--startup-trials",
                          expected=f"--sampler {' or '.join(STARTUP_SAMPLERS)}", received=startup_trials)
    if pruner_warmup is not None:
        _check_warmup(pruner_warmup, pruner, base, params)
    if trials is None and timeout is None:
        trials = DEFAULT_TRIALS
    name = study or base.name or "study"
    if not _valid_name(name):
        raise ConfigError(key="--study", expected="letters, digits, '_', '-', '.'", received=name)
    out_path = Path(out) if out is not None else Path(root) / name
    from kerastricks.rundir import check_parent

    check_parent(out_path)
    storage_url = storage or default_storage(out_path)
    return TuneSpec(base=base, params=params, objectives=objs, space_file=str(space), fixed=list(overrides),
                    study_name=name, storage_url=storage_url, out=out_path, sampler=sampler, pruner=pruner,
                    trials=trials, timeout=timeout, workers=workers, seed=seed, startup_trials=startup_trials,
                    pruner_warmup=pruner_warmup, command=command, grid=grid)


def _check_warmup(warmup: int, pruner: str, base: Recipe, params: list[Param]) -> None:
    if pruner == "none":
        raise ConfigError("nothing is pruned, so there is no warm-up", key="--pruner-warmup",
                          expected="--pruner median, halving or hyperband", received=warmup)
    if warmup < 0:
        raise ConfigError(key="--pruner-warmup", expected="epochs >= 0", received=warmup)
    if any(p.key == "train.epochs" for p in params):
        return  # the trials' length varies; the shortest is the user's to judge
    epochs = base.train.epochs
    if warmup >= epochs:
        raise ConfigError("no trial could ever be pruned", key="--pruner-warmup",
                          expected=f"fewer than train.epochs ({epochs})", received=warmup)


def _valid_name(name: str) -> bool:
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name))


def _default_objective(recipe: Recipe) -> str:
    return "val_accuracy" if recipe.has_validation else "accuracy"


def check_study_dir(spec: TuneSpec) -> bool:
    """Raise ``RunDirError`` unless ``spec.out`` is absent, empty, or this study's directory; True if it exists
    with this study (a continuation)."""
    out = spec.out
    if not out.exists():
        return False
    if not out.is_dir():
        raise RunDirError("exists and is not a directory", file=str(out), key="--out")
    if not any(out.iterdir()):
        return False
    marker = out / TUNE_JSON
    if not marker.is_file():
        raise RunDirError("already exists and is not a study directory; nothing was overwritten", file=str(out),
                          key="--out", hint="choose a new --out")
    try:
        saved = kio.read_json(marker)
    except (OSError, ValueError):
        raise RunDirError("unreadable tune.json; nothing was overwritten", file=str(marker), key="--out") from None
    for key, label in (("study", "--study"), ("storage", "--storage")):
        mine = spec.to_json()[key]
        if saved.get(key) != mine:
            raise RunDirError(f"holds study '{saved.get('study')}' on another {label}", file=str(out), key=label,
                              expected=saved.get(key), received=mine, hint="choose a new --out")
    _compare(saved, spec, where=str(marker))
    return True


def _compare(saved: dict[str, Any], spec: TuneSpec, *, where: str) -> None:
    mine = spec.definition()
    for key, flag, what in (("space", "--space", "search space"), ("objectives", "--objective", "objectives"),
                            ("base_recipe", "RECIPE/--set", "base recipe")):
        if saved.get(key) != mine[key]:
            if key == "base_recipe":
                expected, received = _first_difference(saved.get(key) or "", mine[key])
            else:
                expected, received = json.dumps(saved.get(key)), json.dumps(mine[key])
            raise ConfigError(f"study '{spec.study_name}' exists with a different {what}", file=where, key=flag,
                              expected=shorten(expected, 160), received=shorten(received, 160),
                              hint="continue it with the same settings, or choose a new --study")


def _first_difference(a: str, b: str) -> tuple[str, str]:
    for x, y in zip(a.splitlines() + [""] * 1000, b.splitlines() + [""] * 1000):
        if x != y:
            return x or "(nothing)", y or "(nothing)"
    return a, b  # pragma: no cover


def make_storage(url: str) -> Any:
    """An Optuna storage for ``url``: ``journal:PATH`` (a journal file) or an SQLAlchemy URL; unreachable or
    unusable storage raises ``ConfigError``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        if url.startswith("journal:"):
            from optuna.storages.journal import JournalFileBackend

            path = Path(url[len("journal:"):])
            if not path.parent.is_dir():
                raise ConfigError("the journal file's folder does not exist", key="--storage",
                                  expected="journal:PATH in an existing folder", received=url)
            return optuna.storages.JournalStorage(JournalFileBackend(str(path)))
        if "://" not in url:
            raise ConfigError(key="--storage", expected="an SQLAlchemy URL (sqlite:///study.db, "
                              "postgresql://user@host/db, mysql://...) or journal:PATH", received=url)
        kwargs = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else None
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return optuna.storages.RDBStorage(url, engine_kwargs=kwargs)
    except ConfigError:
        raise
    except Exception as exc:  # SQLAlchemy's connection errors, a missing database driver, ...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(f"cannot open the storage: {shorten(first, 200)}", key="--storage",
                          received=url) from None


def open_study(spec: TuneSpec, *, create: bool) -> Any:
    """The study in its storage, checked against ``spec`` (``ConfigError`` if it exists with another definition).
    With ``create``, a missing study is created and its definition stored."""
    import optuna

    storage = make_storage(spec.storage_url)
    names = {s.study_name: s for s in storage.get_all_studies()}
    if spec.study_name in names:
        saved = names[spec.study_name].user_attrs.get(ATTR)
        if saved is None:
            raise ConfigError(f"study '{spec.study_name}' exists but was not made by kerastricks tune",
                              key="--study", received=spec.storage_url, hint="choose a new --study")
        _compare(saved, spec, where=spec.storage_url)
        return optuna.load_study(study_name=spec.study_name, storage=storage)
    if not create:
        return None
    study = optuna.create_study(storage=storage, study_name=spec.study_name, load_if_exists=True,
                                directions=[o.optuna_direction for o in spec.objectives])
    saved = study.user_attrs.get(ATTR)
    if saved is None:
        study.set_user_attr(ATTR, spec.definition())
    else:  # another worker or machine created it at the same moment
        _compare(saved, spec, where=spec.storage_url)
    return study


def make_sampler(spec: TuneSpec, index: int = 0) -> Any:
    import optuna

    seed = None if spec.seed is None else spec.seed + index
    startup = {} if spec.startup_trials is None else {"n_startup_trials": spec.startup_trials}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # constant_liar is marked experimental
        if spec.sampler == "tpe":
            return optuna.samplers.TPESampler(seed=seed, constant_liar=True, **startup)
        if spec.sampler == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if spec.sampler == "grid":
            return _grid_sampler()(spec.grid, seed=seed)
        return optuna.samplers.CmaEsSampler(seed=seed, **startup)


def _grid_sampler() -> type:
    import optuna

    class Grid(optuna.samplers.GridSampler):
        """Optuna's grid sampler without its ``Study.stop()`` once the grid is covered (that call works inside
        ``Study.optimize`` only; here the workers stop by counting: ``--trials`` is at most the grid's size)."""

        def after_trial(self, study, trial, state, values):
            return None

    return Grid


def make_pruner(spec: TuneSpec) -> Any:
    import optuna

    # Trials report their 1-based epoch as the step, and Optuna judges a step only once it reaches
    # ``n_warmup_steps`` / ``min_resource``: a warm-up of W epochs is a first judged step of W + 1.
    warm = spec.warmup_epochs
    if spec.pruner == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=warm + 1)
    if spec.pruner == "halving":
        return optuna.pruners.SuccessiveHalvingPruner(**({} if warm is None else {"min_resource": warm + 1}))
    if spec.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1 if warm is None else warm + 1,
                                              max_resource=spec.base.train.epochs)
    return optuna.pruners.NopPruner()


def spec_from_dir(out: str | Path, settings: dict[str, Any]) -> TuneSpec:
    """Rebuild a spec in a worker process from the study directory's ``tune.json`` and the driver's settings."""
    from kerastricks.recipes import recipe_from_toml

    saved = kio.read_json(Path(out) / TUNE_JSON)
    base = recipe_from_toml(saved["base_recipe"], source=saved.get("recipe_source") or "<base>")
    params = read_space_from_signature(saved["space"])
    objectives = [Objective(*o.split(":")) for o in saved["objectives"]]
    spec = TuneSpec(base=base, params=params, objectives=objectives, space_file=saved["space_file"],
                    fixed=saved["fixed"], study_name=saved["study"], storage_url=saved["storage"], out=Path(out),
                    **settings)
    if spec.sampler == "grid":
        spec.grid = {p.key: p.grid() for p in params}
    return spec


def read_space_from_signature(items: list[dict[str, Any]]) -> list[Param]:
    from kerastricks.tune.space import parse_param

    return [parse_param(item, i, TUNE_JSON) for i, item in enumerate(items)]


def runtime_settings(spec: TuneSpec) -> dict[str, Any]:
    return {"sampler": spec.sampler, "pruner": spec.pruner, "trials": spec.trials, "timeout": spec.timeout,
            "workers": spec.workers, "seed": spec.seed, "startup_trials": spec.startup_trials,
            "pruner_warmup": spec.pruner_warmup, "command": spec.command}
