"""The ``kerastricks`` command line.

.. code-block:: text

    kerastricks train [RECIPE | --preset NAME] [--set KEY=VALUE ...] [--out DIR] [--resume RUN_DIR] [--workers N]
    kerastricks show  [RECIPE | --preset NAME] [--set KEY=VALUE ...]
    kerastricks lr-find [RECIPE | --preset NAME] [--set KEY=VALUE ...] [--out DIR] [--apply [PATH]]
    kerastricks memory [RECIPE | --preset NAME] [--set KEY=VALUE ...] [--json]
    kerastricks list  [techniques|datasets|models|presets|optimizers|schedules|losses]
    kerastricks evaluate RUN_DIR
    kerastricks ensemble RUN_DIR... [--method mean|vote|logit_mean] [--out DIR]
    kerastricks bench [RECIPE | BENCH_FILE | --preset NAME] [--variant NAME:KEY=VALUE[;KEY=VALUE...] ...]
                      [--seeds N] [--target METRIC=VALUE] [--set KEY=VALUE ...] [--out DIR]
                      [--repeat N|auto] [--budget SECONDS] [--noise FRACTION]
    kerastricks tune  [RECIPE | --preset NAME] --space SPACE.toml [--trials N] [--timeout S] [--workers K]
                      [--storage URL] [--study NAME] [--sampler tpe|random|grid|cmaes]
                      [--pruner median|halving|hyperband|none] [--objective METRIC[:max|min] ...]
                      [--pruner-warmup EPOCHS] [--startup-trials N] [--seed N] [--set KEY=VALUE ...]
                      [--out DIR]
    kerastricks compress RUN_DIR [--prune-to S] [--quantize dynamic|float16|int8|none] [--calibration N] [--out DIR]

Exit codes: 0 success; 1 an internal error (kept with its traceback); 2 bad
input: one line naming the file, the key, what was expected and what was found,
before any heavy work and with nothing created or overwritten; 3 a diverged run
(non-finite loss or weights, ``[train] on_nan``), with no model written.

Commands that need no model (``list``, ``show``, ``--help``, every input error)
answer without importing Keras or TensorFlow.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

EXIT_OK = 0
EXIT_INTERNAL = 1  # an unexpected error: kept with its traceback
EXIT_USAGE = 2  # bad input: one line naming the file, key, expected and received values
EXIT_DIVERGED = 3  # the run's loss or weights became non-finite ([train] on_nan)

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
    dist = train.add_argument_group("several processes (train.distribute = 'data_parallel', see docs/distributed.md)")
    dist.add_argument("--workers", type=_positive_int, metavar="N",
                      help="start N local processes of one run (coordinator on 127.0.0.1, a free port)")
    dist.add_argument("--coordinator", metavar="HOST:PORT", help="process 0's address, on every machine")
    dist.add_argument("--num-processes", type=_positive_int, metavar="N", help="processes in the run")
    dist.add_argument("--process-id", type=int, metavar="I", help="this process's id, 0 .. N-1 (0 writes the run)")
    train.add_argument("--ensemble", type=_positive_int, metavar="N",
                       help="train N members (seeds seed .. seed+N-1, each its own process), then ensemble them "
                            "(same as --set train.ensemble=N)")

    lr_find = sub.add_parser("lr-find", help="learning-rate range test: suggest optimizer.learning_rate")
    recipe_args(lr_find)
    lr_find.add_argument("--out", help="directory for lr_find.png and lr_find.json "
                                       "(default: runs/<name>-lr-find-<UTC time>)")
    lr_find.add_argument("--runs-root", default="runs", help="parent of the auto-named output directory")
    lr_find.add_argument("--apply", nargs="?", const="", metavar="PATH",
                         help="also write a copy of the recipe with the suggestion as optimizer.learning_rate "
                              "(default PATH: OUT/recipe.toml; an existing file is never overwritten)")
    lr_find.add_argument("--method", choices=("minimum", "valley", "steep"), default=None,
                         help="which suggestion to use (default: the finder's default)")
    lr_find.add_argument("--start-lr", type=float, default=1e-7, help="first rate of the sweep")
    lr_find.add_argument("--end-lr", type=float, default=10.0, help="last rate of the sweep")
    lr_find.add_argument("--num-steps", type=int, default=100, help="training steps of the sweep")

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
    ensemble = sub.add_parser("ensemble", help="average finished runs into one model; report members and ensemble",
                              description="Evaluate the ensemble of finished runs on their common test set: "
                                          "accuracy, balanced accuracy, loss and calibration error per member and "
                                          "for the ensemble; writes the ensemble as model.keras.")
    ensemble.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="two or more finished run directories")
    ensemble.add_argument("--method", choices=("mean", "vote", "logit_mean"), default="mean",
                          help="mean probability (default), majority vote, or mean logit")
    ensemble.add_argument("--out", help="directory to create (default: runs/<name>-ensemble-<UTC time>)")
    ensemble.add_argument("--runs-root", default="runs", help="parent of the auto-named output directory")
    ensemble.add_argument("--json", action="store_true", help="print the report as JSON")
    bench = sub.add_parser(
        "bench", help="run a recipe's variants side by side (one process per run, interleaved seeds)",
        description="Measure variants of a recipe side by side: time to target, throughput, peak memory, "
                    "optimizer state and test metrics, median over seeds, ratios against the first variant.")
    bench.add_argument("recipe", nargs="?",
                       help="recipe TOML, or a bench file (TOML with [[variants]]); default: the 'mnist1d' preset")
    bench.add_argument("--preset", help="a preset shipped with kerastricks")
    bench.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override applied to every variant (repeatable)")
    bench.add_argument("--variant", dest="variants", action="append", default=[],
                       metavar="NAME:KEY=VALUE[;KEY=VALUE...]",
                       help="a variant; the first is the baseline (repeatable; default: the recipe alone)")
    bench.add_argument("--seeds", type=_positive_int, help="seeds per variant (default 3, or the bench file's)")
    bench.add_argument("--target", metavar="METRIC=VALUE",
                       help="time-to-target threshold, e.g. val_accuracy=0.98 (default: the recipe's train.target)")
    bench.add_argument("--out", help="bench directory to create (default: bench/<name>-<UTC time>)")
    bench.add_argument("--timeout", type=_positive_seconds, metavar="SECONDS", help="kill a run that takes longer")
    bench.add_argument("--repeat", metavar="N|auto",
                       help="rounds per seed; auto (the default with two or more variants; 1 for a recipe alone): add "
                            "rounds until every speed ratio's interval is decided against the noise band, or "
                            "--budget runs out")
    bench.add_argument("--budget", metavar="SECONDS", help="with --repeat auto: seconds the whole bench may take "
                                                            "(default 1800)")
    bench.add_argument("--noise", metavar="FRACTION",
                       help="the A/A noise: ratios whose interval lies within 1 ± FRACTION are 'within noise' "
                            "(default 0.05)")

    tune = sub.add_parser(
        "tune", help="search recipe keys with Optuna (each trial a train process; pruning; resumable, distributed)",
        description="An Optuna study over recipe keys. Each trial is a `kerastricks train` run in its own process; "
                    "per-epoch values reach the pruner. The same command continues a killed study, and runs one "
                    "distributed study on every machine that reaches the same --storage.")
    recipe_args(tune)
    tune.add_argument("--space", required=True, metavar="SPACE.toml", help="search space: [[param]] tables")
    tune.add_argument("--trials", type=_positive_int, metavar="N",
                      help="trials in the study, counted across runs of the command and machines "
                           "(default 20, or the grid's size; a trial killed with its worker is not counted)")
    tune.add_argument("--timeout", type=_positive_seconds, metavar="S",
                      help="start no trial after S seconds (a running trial finishes)")
    tune.add_argument("--workers", type=_positive_int, default=1, metavar="K",
                      help="local worker processes sharing the storage (default 1)")
    tune.add_argument("--storage", metavar="URL",
                      help="SQLAlchemy URL (postgresql://..., mysql://..., sqlite:///...) or journal:PATH "
                           "(default: sqlite:///OUT/study.db)")
    tune.add_argument("--study", metavar="NAME", help="study name in the storage (default: the recipe's name)")
    tune.add_argument("--sampler", default="tpe", help="tpe (default), random, grid or cmaes")
    tune.add_argument("--startup-trials", type=_positive_int, metavar="N",
                      help="random trials before tpe/cmaes model the space (default: Optuna's, 10 for tpe)")
    tune.add_argument("--pruner", help="median (default for one per-epoch objective), halving, hyperband or none")
    tune.add_argument("--pruner-warmup", type=int, metavar="EPOCHS",
                      help="epochs every trial runs before the pruner may stop it (default: a quarter of the "
                           "recipe's epochs, at least 1, for median; Optuna's defaults for halving, hyperband)")
    tune.add_argument("--objective", dest="objectives", action="append", default=[], metavar="METRIC[:max|min]",
                      help="what to optimize (default val_accuracy:max); repeat for a Pareto front, e.g. "
                           "--objective val_accuracy:max --objective time_to_target_s:min")
    tune.add_argument("--seed", type=int, help="sampler seed (worker k uses seed + k; default: unseeded)")
    tune.add_argument("--out", help="study directory (default: tune/<study>); the same --out continues the study")

    compress = sub.add_parser(
        "compress", help="prune and quantize a run's model into a LiteRT file, measured against float32 LiteRT",
        description="Write OUT/model.tflite and OUT/report.json: accuracy on the run's test set, size (raw and "
                    "gzip) and batch-1 latency of the float32 LiteRT model and of the compressed one.")
    compress.add_argument("run_dir")
    compress.add_argument("--prune-to", type=float, metavar="S",
                          help="one-shot magnitude pruning to sparsity S in [0, 1) before quantization")
    compress.add_argument("--layers", action="append", metavar="GLOB",
                          help="layers --prune-to prunes (repeatable; default: all Dense/Conv but the first conv "
                               "and the classifier)")
    compress.add_argument("--quantize", default="int8", metavar="MODE",
                          help="none, dynamic (int8 weights), float16 or int8 (full-integer; default)")
    compress.add_argument("--calibration", type=int, metavar="N",
                          help="training examples that calibrate int8 (default: 1000, or all if fewer)")
    compress.add_argument("--out", help="output directory (default: RUN_DIR/compress-MODE)")
    compress.add_argument("--json", action="store_true", help="print the report as JSON")
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, received {text!r}")
    return value


def _positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds > 0, received {text!r}")
    return value


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    args.argv = argv
    if args.command is None and not args.version:
        parser.print_help()
        return EXIT_USAGE
    try:
        from kerastricks._backend import BackendMissingError
    except ImportError:  # pragma: no cover
        BackendMissingError = ImportError  # type: ignore[assignment]
    try:
        import kerastricks  # noqa: F401  (selects the backend)
        from kerastricks.errors import UserError

        try:
            if args.version:
                return _version()
            return COMMANDS[args.command](args)
        except UserError as exc:
            print(f"kerastricks: error: {exc.line()}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:
            if type(exc).__name__ == "Diverged" and hasattr(exc, "line"):
                print(f"kerastricks: diverged: {exc.line()}", file=sys.stderr)
                return EXIT_DIVERGED
            raise
    except BackendMissingError as exc:
        print(f"kerastricks: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("kerastricks: interrupted", file=sys.stderr)
        return 130


def run() -> None:
    """The ``kerastricks`` command: :func:`main`, then a quick exit of the process.

    Once a command has returned, everything it wrote is closed; what is left is
    tearing the interpreter down, which with TensorFlow loaded takes 1-2 s of
    CPU (about 5 % of the default job) freeing modules one by one. The exit
    handlers still run (TensorFlow's temporary files are removed), the standard
    streams are flushed, and then the process ends with the command's code. If a
    thread other than the main one is still running (work a command left to
    finish), the process exits the usual way and waits for it.
    """
    code = main()
    import threading

    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    import atexit
    import contextlib
    import logging
    import os

    atexit._run_exitfuncs()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing more can reach it
            stream.flush()
    os._exit(code)


# ---- commands -------------------------------------------------------------------
def _load(args) -> Any:
    from kerastricks.recipes import load_recipe

    return load_recipe(args.recipe, preset=args.preset, overrides=args.overrides)


def resumed_recipe(args) -> Any:
    """The recipe of the run ``--resume`` continues; refuses a recipe, preset, --set or --out beside it."""
    from kerastricks.errors import ConfigError

    if args.recipe or args.preset or args.overrides or args.out:
        raise ConfigError("--resume takes the recipe and directory of the run it continues",
                          key="--resume", expected="no RECIPE, --preset, --set or --out",
                          received="extra arguments")
    from kerastricks.evaluate import check_resumable

    return check_resumable(args.resume)


def _train(args) -> int:
    from kerastricks.rundir import check_out_dir, check_runs_root

    verbose = 0 if args.quiet else "auto"
    if args.ensemble is not None:
        args.overrides = [*args.overrides, f"train.ensemble={args.ensemble}"]
    from kerastricks.distribute.cli import process_group, run_workers

    if args.workers is not None:
        return run_workers(args)
    group = process_group(args)  # --coordinator/--num-processes/--process-id or KERAS_DISTRIBUTION_*
    if args.resume:
        recipe = resumed_recipe(args)
        group.check(recipe)
        _apply_backend(recipe)
        if recipe.train.ensemble > 1:
            return _train_ensemble(recipe, args.resume, args, resume=True)
        from kerastricks.train import Trainer

        trainer = Trainer.resume(args.resume, verbose=verbose, write=group.process_id == 0)
    else:
        recipe = _load(args)  # validated: every input error is raised here, before Keras is imported
        group.check(recipe)
        if args.out is not None:
            check_out_dir(args.out)
        else:
            check_runs_root(args.runs_root)
        _apply_backend(recipe)
        if recipe.train.ensemble > 1:
            return _train_ensemble(recipe, args.out, args)
        from kerastricks.train import Trainer

        trainer = Trainer(recipe, out=args.out, runs_root=args.runs_root, verbose=verbose,
                          write=group.process_id == 0)
    result = trainer.fit()
    print(format_summary(result.report))
    return 0


def _train_ensemble(recipe, out, args, resume: bool = False) -> int:
    from kerastricks.ensemble.runs import markdown
    from kerastricks.ensemble.training import MemberFailed, train_ensemble

    print(f"ensemble of {recipe.train.ensemble} members of {recipe.name} ({recipe.train.ensemble_method}), "
          "each its own kerastricks train process", flush=True)
    try:
        report = train_ensemble(recipe, out, runs_root=args.runs_root, resume=resume,
                                progress=lambda line: print(line, flush=True))
    except MemberFailed as exc:
        print(f"kerastricks: error: {exc.line()}", file=sys.stderr)
        return exc.exit_code
    print()
    print(markdown(report), end="")
    print(f"\nwrote {report['run_dir']}/model.keras, report.json, ensemble.md")
    return 0


def _ensemble(args) -> int:
    from kerastricks.ensemble.runs import check_runs, markdown
    from kerastricks.rundir import check_out_dir, check_runs_root

    recipes = check_runs(args.run_dirs, args.method)  # before Keras: one line for a bad run directory
    if args.out is not None:
        check_out_dir(args.out, hint="choose a new --out")
    else:
        check_runs_root(args.runs_root)
    _apply_backend(recipes[0])
    from kerastricks.ensemble.runs import ensemble_runs

    report = ensemble_runs(args.run_dirs, method=args.method, out=args.out, runs_root=args.runs_root,
                           recipes=recipes)
    report.pop("model")
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print(markdown(report), end="")
    print(f"\nwrote {report['run_dir']}/model.keras, report.json, ensemble.md")
    return 0


def _apply_backend(recipe) -> None:
    """Select the recipe's backend (before Keras is imported) and quiet TensorFlow's harmless C++ notices."""
    from kerastricks._backend import ensure_backend, import_keras_for_cli
    from kerastricks._quiet import filter_stderr
    from kerastricks.runtime import apply_backend, set_jax_threads

    apply_backend(recipe.train.backend, file=recipe.source)
    ensure_backend()  # one line naming the extras to install, before Keras is imported
    set_jax_threads(recipe.train.threads)  # JAX reads its thread count from XLA_FLAGS when it starts
    filter_stderr()
    import_keras_for_cli()


def _lr_find(args) -> int:
    import copy
    import math
    from pathlib import Path

    from kerastricks import io as kio
    from kerastricks.errors import ConfigError, RunDirError
    from kerastricks.rundir import check_parent, check_runs_root

    recipe = _load(args)
    for key, ok, expected, value in (
        ("--start-lr", math.isfinite(args.start_lr) and args.start_lr > 0, "a finite rate > 0", args.start_lr),
        ("--end-lr", math.isfinite(args.end_lr) and args.end_lr <= 1e30, "a finite rate <= 1e30", args.end_lr),
        ("--end-lr", args.end_lr > args.start_lr, f"a rate > --start-lr ({args.start_lr})", args.end_lr),
        ("--num-steps", args.num_steps >= 2, "an integer >= 2", args.num_steps),
    ):
        if not ok:
            raise ConfigError(key=key, expected=expected, received=value)
    out = Path(args.out) if args.out else None
    files = ["lr_find.png", "lr_find.json"]
    if out is None:
        check_runs_root(args.runs_root)
    else:
        check_parent(out)
        if out.exists() and not out.is_dir():
            raise RunDirError("exists and is not a directory", file=str(out), key="--out")
        for name in files:
            if (out / name).exists():
                raise RunDirError("already exists; nothing was overwritten", file=str(out / name), key="--out")
    apply_path = None
    if args.apply is not None:
        apply_path = Path(args.apply) if args.apply else (out / "recipe.toml" if out is not None else None)
        if apply_path is not None and apply_path.exists():
            raise RunDirError("already exists; nothing was overwritten", file=str(apply_path), key="--apply")
        if apply_path is not None:
            check_parent(apply_path, key="--apply")

    _apply_backend(recipe)
    from kerastricks.build import build_components
    from kerastricks.lr_finder import DEFAULT_METHOD, lr_find
    from kerastricks.rundir import make_run_dir
    from kerastricks.runtime import prepared
    from kerastricks.techniques import TrainContext

    with prepared(recipe.train, file=recipe.source) as runtime:  # the trainer's own runtime preparation
        ctx = TrainContext.for_recipe(recipe)
        parts = build_components(recipe, ctx, recipe.build_techniques(), jit=runtime.jit)
        result = lr_find(parts.model, parts.train_ds, start_lr=args.start_lr, end_lr=args.end_lr,
                         num_steps=args.num_steps)
    method = args.method or DEFAULT_METHOD
    if not result.suggestions:
        raise ConfigError("the loss diverged at the first step; nothing to suggest", key="--start-lr",
                          expected="a smaller --start-lr", received=args.start_lr)
    suggestion = result.suggestions[method]

    if out is None:
        out = make_run_dir(args.runs_root, f"{recipe.name or 'run'}-lr-find")
        if args.apply is not None and apply_path is None:
            apply_path = out / "recipe.toml"
    out.mkdir(parents=True, exist_ok=True)
    result.plot(out / "lr_find.png")
    kio.write_json(out / "lr_find.json", {"recipe": recipe.source, "method": method, **result.to_dict(),
                                          "suggestion": suggestion})
    steps = len(result.lrs)
    print(f"lr-find {recipe.name}: {steps} steps from {args.start_lr:g} to {result.lrs[-1]:.3g}"
          + (" (stopped: loss diverged)" if result.diverged else ""))
    for name, value in result.suggestions.items():
        print(f"  {name:<8} {value:.3g}" + ("  <- suggestion" if name == method else ""))
    print(f"  optimizer.learning_rate now: {recipe.optimizer.get('learning_rate')}")
    print(f"  plot: {out / 'lr_find.png'}")
    if apply_path is not None:
        if apply_path.exists():  # appeared during the sweep
            raise RunDirError("already exists; nothing was overwritten", file=str(apply_path), key="--apply")
        applied = copy.deepcopy(recipe)
        applied.optimizer["learning_rate"] = float(f"{suggestion:.3g}")
        kio.write_text(apply_path, f"# {recipe.source} with the lr-find suggestion ({method})\n"
                       + applied.to_toml())
        print(f"  wrote {apply_path} (optimizer.learning_rate = {applied.optimizer['learning_rate']}); "
              f"train it with: kerastricks train {apply_path}")
    return 0


def _show(args) -> int:
    recipe = _load(args)
    print(f"# resolved recipe from {recipe.source}")
    print(recipe.to_toml(), end="")
    return 0


def _memory(args) -> int:
    recipe = _load(args)
    from kerastricks.memory import (
        compare_optimizers,
        format_bytes,
        format_table,
        recipe_model_and_optimizer,
    )

    _apply_backend(recipe)
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
    from kerastricks.evaluate import check_run, evaluate_run

    recipe = check_run(args.run_dir)  # before Keras: a missing run or file is one line at once
    _apply_backend(recipe)
    metrics = evaluate_run(args.run_dir, recipe)
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        print(format_metrics(metrics))
    return 0


def _bench(args) -> int:
    import shlex

    from kerastricks import bench

    spec = bench.resolve_bench(args.recipe, preset=args.preset, overrides=args.overrides, variants=args.variants,
                               seeds=args.seeds, target=args.target, repeat=args.repeat, budget=args.budget,
                               noise=args.noise)
    command = "kerastricks " + shlex.join(args.argv)
    result = bench.run(spec, args.out, command=command, timeout=args.timeout,
                       progress=lambda line: print(line, flush=True))
    directory = result["directory"]
    print()
    print(bench.markdown(result), end="")
    print(f"\nwrote {directory}/bench.json, bench.md" + "".join(f", {p}" for p in result["plots"]))
    failed = sum(v["n_runs"] - v["n_ok"] for v in result["variants"])
    if failed:
        print(f"kerastricks: error: {failed} run(s) failed; see the logs named in {directory}/bench.md",
              file=sys.stderr)
        return 1
    return 0


def _tune(args) -> int:
    import shlex

    from kerastricks import tune

    spec = tune.resolve_tune(args.recipe, preset=args.preset, space=args.space, overrides=args.overrides,
                             objectives=args.objectives, sampler=args.sampler, pruner=args.pruner,
                             storage=args.storage, study=args.study, trials=args.trials, timeout=args.timeout,
                             workers=args.workers, seed=args.seed, out=args.out,
                             startup_trials=args.startup_trials, pruner_warmup=args.pruner_warmup,
                             command="kerastricks " + shlex.join(args.argv))
    result = tune.run(spec, progress=lambda line: print(line, flush=True))
    print(f"\nwrote {result['directory']}/" + ", ".join(result["files"]))
    for problem in result["failed_workers"]:
        print(f"kerastricks: error: {problem}; the same command continues the study", file=sys.stderr)
    if not result["best"]:
        print(f"kerastricks: error: no trial completed; see {result['directory']}/study.md", file=sys.stderr)
    return result["exit_code"]


def _version() -> int:
    from kerastricks.runtime import versions

    for key, value in versions().items():
        print(f"{key} {value}")
    return 0


def _compress(args) -> int:
    from pathlib import Path

    from kerastricks.compress.workflow import CompressSettings, check_out, default_out
    from kerastricks.evaluate import check_run

    recipe = check_run(args.run_dir)  # before Keras: a missing run or model.keras is one line at once
    settings = CompressSettings(quantize=args.quantize, calibration=args.calibration, prune_to=args.prune_to,
                                layers=tuple(args.layers) if args.layers else None)
    settings.check()
    out = Path(args.out) if args.out else default_out(Path(args.run_dir), settings)
    check_out(out)
    from kerastricks.runtime import apply_backend

    apply_backend("tensorflow", file=recipe.source)  # the LiteRT converter runs on TensorFlow
    _apply_backend_quiet()
    from kerastricks.compress import compress_run, format_report

    report = compress_run(args.run_dir, settings, out, recipe=recipe)
    print(json.dumps(report, indent=2) if args.json else format_report(report) + f"\nwrote {out}/model.tflite, "
          "report.json")
    return 0


def _apply_backend_quiet() -> None:
    from kerastricks._backend import ensure_backend
    from kerastricks._quiet import filter_stderr

    ensure_backend()
    filter_stderr()


COMMANDS = {"train": _train, "show": _show, "memory": _memory, "list": _list, "evaluate": _evaluate,
            "bench": _bench, "lr-find": _lr_find, "tune": _tune, "compress": _compress, "ensemble": _ensemble}


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
    head = f"run {report['name']}: {report['epochs_run']}/{report['epochs_planned']} epochs"
    lines = ["", head, format_metrics(test)]
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
