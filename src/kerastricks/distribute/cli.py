"""The ``train`` command's process-group arguments: ``--workers N`` and ``--coordinator/--num-processes/--process-id``.

Everything here runs before Keras is imported, so a bad argument is one line (exit 2) and nothing starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kerastricks.distribute.config import ProcessGroup, check_group, check_processes
from kerastricks.errors import ConfigError

GROUP_FLAGS = ("--coordinator", "--num-processes", "--process-id")


def process_group(args: Any) -> ProcessGroup:
    """The group this process belongs to: the command line's flags (exported as ``KERAS_DISTRIBUTION_*`` for
    the runtime), else those variables, else one process."""
    given = {"--coordinator": args.coordinator, "--num-processes": args.num_processes,
             "--process-id": args.process_id}
    if all(v is None for v in given.values()):
        return ProcessGroup.from_env()
    missing = [k for k, v in given.items() if v is None and (k != "--coordinator" or (args.num_processes or 1) > 1)]
    if missing:
        raise ConfigError("a process of a multi-process run needs every group argument", key=missing[0],
                          expected=" ".join(f"{k} {m}" for k, m in zip(GROUP_FLAGS, ("HOST:PORT", "N", "I"))),
                          received=" ".join(f"{k} {v}" for k, v in given.items() if v is not None))
    group = check_group(ProcessGroup(args.coordinator, int(args.num_processes), int(args.process_id)))
    os.environ.update(group.env())
    return group


def run_workers(args: Any) -> int:
    """``kerastricks train ... --workers N``: validate once, then start and watch N local workers."""
    from kerastricks.distribute.launcher import launch
    from kerastricks.recipes import load_recipe
    from kerastricks.rundir import check_out_dir, check_runs_root, make_run_dir

    for flag, value in zip(GROUP_FLAGS, (args.coordinator, args.num_processes, args.process_id)):
        if value is not None:
            raise ConfigError("--workers starts its own local process group", key=flag,
                              expected="either --workers N or --coordinator/--num-processes/--process-id",
                              received=f"--workers {args.workers} {flag} {value}")
    workers = int(args.workers)
    created = None
    if args.resume:
        from kerastricks.cli import resumed_recipe

        recipe = resumed_recipe(args)
        check_processes(recipe, workers)
        run_dir = Path(args.resume)
        child = ["--resume", str(run_dir)]
    else:
        recipe = load_recipe(args.recipe, preset=args.preset, overrides=args.overrides)
        check_processes(recipe, workers)
        if args.out is not None:
            run_dir = check_out_dir(args.out)
        else:
            check_runs_root(args.runs_root)
            run_dir = created = make_run_dir(args.runs_root, recipe.name or "run")
        child = ([args.recipe] if args.recipe else []) + (["--preset", args.preset] if args.preset else [])
        child += [a for o in args.overrides for a in ("--set", o)] + ["--out", str(run_dir)]
    if getattr(recipe.train, "ensemble", 1) > 1:
        raise ConfigError("--workers runs one distributed training; an ensemble trains its members one by one",
                          file=recipe.source, key="train.ensemble", expected="1 with --workers",
                          received=recipe.train.ensemble)
    if args.quiet:
        child.append("--quiet")
    code = launch(workers, child, run_dir=run_dir,
                  resume_hint=f"kerastricks train --resume {run_dir} --workers {workers}")
    if code and created is not None and created.is_dir() and not any(created.iterdir()):
        created.rmdir()  # a start that failed leaves nothing behind
    return code
