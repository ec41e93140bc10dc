"""The ``kerastricks`` command line.

.. code-block:: text

    kerastricks train [RECIPE | --preset NAME] [--set KEY=VALUE ...] [--out DIR] [--resume RUN_DIR]
    kerastricks show  [RECIPE | --preset NAME] [--set KEY=VALUE ...]
    kerastricks memory [RECIPE | --preset NAME] [--set KEY=VALUE ...] [--json]
    kerastricks list  [techniques|datasets|models|presets|optimizers|schedules|losses]
    kerastricks evaluate RUN_DIR

Bad input ends with exit code 2 and one line naming the file, the key, what was
expected and what was found; no traceback. Internal errors keep their
traceback (exit code 1).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Sequence

EXIT_USAGE = 2

LIST_KINDS = ("techniques", "datasets", "models", "presets", "optimizers", "schedules", "losses")


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error in one line."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="kerastricks", description="Training techniques for Keras 3, run from recipes.")
    parser.add_argument("--version", action="store_true", help="print versions and exit")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)

    def recipe_args(p: argparse.ArgumentParser) -> None:
        p.add_argument("recipe", nargs="?", help="recipe TOML file (default: the 'mnist1d' preset)")
        p.add_argument("--preset", help="a preset shipped with kerastricks (see: kerastricks list presets)")
        p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a recipe value, e.g. --set train.epochs=5 (repeatable)")

    train = sub.add_parser("train", help="train a recipe and write a run directory")
    recipe_args(train)
    train.add_argument("--out", help="run directory to create (default: runs/<name>-<UTC time>)")
    train.add_argument("--runs-root", default="runs", help="parent of auto-named run directories")
    train.add_argument("--resume", metavar="RUN_DIR", help="continue a killed run from its last checkpoint")
    train.add_argument("--quiet", action="store_true", help="no per-epoch progress")

    show = sub.add_parser("show", help="print the resolved, validated recipe")
    recipe_args(show)

    memory = sub.add_parser("memory", help="optimizer state of the recipe's model, next to Adam, SGD, Adafactor, SM3")
    recipe_args(memory)
    memory.add_argument("--json", action="store_true", help="print the rows as JSON")

    lst = sub.add_parser("list", help="list registered names")
    lst.add_argument("kind", nargs="?", choices=LIST_KINDS, help="what to list (default: all)")

    evaluate = sub.add_parser("evaluate", help="evaluate a run's model.keras on its test set")
    evaluate.add_argument("run_dir")
    evaluate.add_argument("--json", action="store_true", help="print the metrics as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None and not args.version:
        parser.print_help()
        return EXIT_USAGE
    try:
        from kerastricks._backend import BackendMissingError
    except ImportError:  # pragma: no cover
        BackendMissingError = ImportError  # type: ignore[assignment]
    try:
        import kerastricks  # noqa: F401  (checks the backend)
        from kerastricks.errors import UserError

        try:
            if args.version:
                return _version()
            return {"train": _train, "show": _show, "memory": _memory, "list": _list,
                    "evaluate": _evaluate}[args.command](args)
        except UserError as exc:
            print(f"kerastricks: error: {exc.line()}", file=sys.stderr)
            return EXIT_USAGE
    except BackendMissingError as exc:
        print(f"kerastricks: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kerastricks: interrupted", file=sys.stderr)
        return 130


# ---- commands -------------------------------------------------------------------
def _load(args) -> Any:
    from kerastricks.recipes import load_recipe

    return load_recipe(args.recipe, preset=args.preset, overrides=args.overrides)


def _train(args) -> int:
    from kerastricks.errors import ConfigError
    from kerastricks.train import Trainer

    verbose = 0 if args.quiet else "auto"
    if args.resume:
        if args.recipe or args.preset or args.overrides or args.out:
            raise ConfigError("--resume takes the recipe and directory of the run it continues",
                              key="--resume", expected="no RECIPE, --preset, --set or --out",
                              received="extra arguments")
        trainer = Trainer.resume(args.resume, verbose=verbose)
    else:
        recipe = _load(args)
        trainer = Trainer(recipe, out=args.out, runs_root=args.runs_root, verbose=verbose)
    result = trainer.fit()
    print(format_summary(result.report))
    return 0


def _show(args) -> int:
    recipe = _load(args)
    print(f"# resolved recipe from {recipe.source}")
    print(recipe.to_toml(), end="")
    return 0


def _memory(args) -> int:
    from kerastricks.memory import (
        compare_optimizers,
        format_bytes,
        format_table,
        recipe_model_and_optimizer,
    )

    recipe = _load(args)
    model, optimizer = recipe_model_and_optimizer(recipe)
    rows = compare_optimizers(model, optimizer, label=f"{recipe.optimizer['name']} (recipe)")
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"optimizer state for {recipe.name} ({recipe.source}): model {recipe.model['name']}, "
          f"{rows[0]['params']:,} trainable parameters ({format_bytes(rows[0]['param_bytes'])})")
    print(format_table(rows))
    return 0


def _list(args) -> int:
    kinds = [args.kind] if args.kind else list(LIST_KINDS)
    for i, kind in enumerate(kinds):
        registry = _registry(kind)
        if len(kinds) > 1:
            print(("\n" if i else "") + f"{kind}:")
        width = max((len(e.name) for e in registry), default=0)
        for entry in registry:
            print(f"  {entry.name:<{width}}  {entry.description}")
    return 0


def _registry(kind: str):
    if kind == "techniques":
        from kerastricks.techniques import TECHNIQUES as reg
    elif kind == "datasets":
        from kerastricks.data import DATASETS as reg
    elif kind == "models":
        from kerastricks.models import MODELS as reg
    elif kind == "presets":
        from kerastricks.recipes import PRESETS as reg
    elif kind == "optimizers":
        from kerastricks.optimizers import OPTIMIZERS as reg
    elif kind == "schedules":
        from kerastricks.schedules import SCHEDULES as reg
    else:
        from kerastricks.losses import LOSSES as reg
    return reg


def _evaluate(args) -> int:
    from kerastricks.evaluate import evaluate_run

    metrics = evaluate_run(args.run_dir)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_metrics(metrics))
    return 0


def _version() -> int:
    from kerastricks.train import versions

    for key, value in versions().items():
        print(f"{key} {value}")
    return 0


# ---- output ---------------------------------------------------------------------
def _fmt(value: Any, unit: str = "", digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}{unit}"
    return f"{value}{unit}"


def format_metrics(test: dict[str, Any]) -> str:
    keys = [k for k in ("accuracy", "balanced_accuracy", "macro_f1", "loss", "mae", "rmse", "r2") if k in test]
    width = max(len(k) for k in keys) if keys else 0
    return "\n".join(f"  test {k:<{width}}  {_fmt(test[k])}" for k in keys)


def _describe_best(best: dict[str, Any]) -> str:
    if best["monitor"] == "last":
        return f"final weights (epoch {best['epoch']}, train.monitor = last)"
    if best["epoch"] is None:
        return f"final weights ({best['monitor']} was never logged)"
    return f"best {best['monitor']} = {_fmt(best['value'])} (epoch {best['epoch']})"


def format_summary(report: dict[str, Any]) -> str:
    """The table printed after ``kerastricks train``."""
    test = report["test"]
    target = report.get("target")
    lines = ["", f"run {report['name']}: {report['epochs_run']}/{report['epochs_planned']} epochs", format_metrics(test)]
    rows = [
        ("wall time", _fmt(report["wall_time_s"], " s", 1)),
        ("train time", _fmt(report["fit_time_s"], " s", 1)),
    ]
    if target:
        label = f"time to {target['metric']} {'>=' if target.get('mode', 'auto') != 'min' else '<='} {target['value']}"
        reached = report["time_to_target_s"]
        rows.append((label, _fmt(reached, " s", 1) + (f" (epoch {report['epochs_to_target']})" if reached else
                                                     " (not reached)")))
    rows += [
        ("examples/s", _fmt(report["examples_per_s"], "", 0)),
        ("model.keras", _describe_best(report["best"])),
        ("params", f"{report['params']:,}"),
        ("run directory", report.get("run_dir") or "-"),
    ]
    width = max(len(r[0]) for r in rows)
    lines += [f"  {name:<{width}}  {value}" for name, value in rows]
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
