"""The trainer: runs a recipe end to end, built on ``model.fit``.

``Trainer(recipe).fit()`` reads as setup -> callbacks -> fit -> finish:

- setup: prepare the runtime (:mod:`kerastricks.runtime`), build the phases
  (:mod:`kerastricks.build`), claim the run directory (:mod:`kerastricks.rundir`)
  only once all of that worked;
- callbacks: the run's bookkeeping (divergence guard, checkpoint, metrics log,
  best model, time to target, TensorBoard) around the schedule's and the
  techniques' callbacks;
- fit: ``model.fit`` from the first (or resumed) epoch; a non-finite loss or
  weight stops it, or rolls it back to the last finite epoch with a lower rate
  (``[train] on_nan``);
- finish: best weights, ``after_fit`` hooks, ``model.keras`` and the artifacts
  techniques hand back, test evaluation, ``report.json`` (:mod:`kerastricks.report`), plots.

.. code-block:: text

    runs/<name>-<UTC time>/
      recipe.toml        the resolved recipe (every default filled in)
      metrics.csv        one row per epoch (metrics, learning rate, timings)
      report.json        test metrics, timings, time-to-target, sizes, versions (strict JSON)
      model.keras        the best model by train.monitor (written when training ends)
      checkpoints/       last.npz: weights, optimizer state, callback state (resume)
      logs/              TensorBoard (train/, validation/: one point per metric and epoch)
      plots/             curves.png, learning_rate.png, confusion_matrix.png, ...

Every file is written atomically (temp file + rename); a resumed run removes the
temp files a kill left behind and the TensorBoard points of the epochs it runs
again, and ends bit-identical to the uninterrupted run on CPU: the checkpoint
holds the model's variables (seed states included), the optimizer's and every
resumable callback's state, and the data pipeline's randomness is a function
of ``(seed, epoch)`` (:func:`kerastricks.data.make_tf_dataset`).
"""

from __future__ import annotations

import contextlib
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from kerastricks import io as kio

# Re-exported for callers of the wave-1 trainer module.
from kerastricks.build import Components, build_components, load_recipe_dataset  # noqa: F401
from kerastricks.callbacks.checkpoints import (
    capture_states,
    model_state,
    optimizer_state,
    restore_model,
    restore_optimizer,
    restore_states,
)
from kerastricks.callbacks.divergence import all_finite
from kerastricks.errors import RunDirError
from kerastricks.recipes import Recipe, metric_mode
from kerastricks.report import evaluate_model, write_plots
from kerastricks.rundir import (
    CHECKPOINT_FILE,
    LOGS_DIR,
    METRICS_FILE,
    MODEL_FILE,
    RECIPE_FILE,
    REPORT_FILE,
    RESUMES_FILE,
    check_out_dir,
    check_runs_root,
    claim_out_dir,
    make_run_dir,
)
from kerastricks.runtime import (  # noqa: F401
    configure_threads,
    cpu_flags,
    device_memory_peak,
    gpu_available,
    optimizer_state_size,
    resolve_jit,
    resolve_precision,
    versions,
)
from kerastricks.techniques import TrainContext
from kerastricks.timing import Phases, process_age

#: Exit code of ``kerastricks train`` for a run that diverged (0 ok, 1 internal error, 2 bad input).
EXIT_DIVERGED = 3


class Diverged(Exception):
    """A run's loss or weights became non-finite and ``on_nan`` could not recover; :meth:`line` says where."""

    def __init__(self, line: str, report: dict[str, Any] | None = None) -> None:
        super().__init__(line)
        self.report = report

    def line(self) -> str:
        return str(self)


@dataclass
class RunResult:
    """What :meth:`Trainer.fit` returns."""

    run_dir: Path | None
    report: dict[str, Any]
    model: Any
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _Run:
    """What one :meth:`Trainer.fit` call builds and carries from setup to finish."""

    recipe: Recipe
    runtime: Any
    t0: float
    wall_before: float
    first_epoch: int
    ctx: TrainContext
    techniques: list = field(default_factory=list)
    parts: Components | None = None
    monitor: str = "last"
    run_dir: Path | None = None
    resumed: int = 0
    recovery: dict[str, Any] = field(default_factory=lambda: {"rollbacks": 0, "lr_scale": 1.0, "events": []})
    guard: Any = None
    logger: Any = None
    best: Any = None
    target: Any = None
    stateful: dict[str, Any] = field(default_factory=dict)
    last_finite: Any = None
    callbacks: list = field(default_factory=list)
    preloader: threading.Thread | None = None
    phases: Phases = field(default_factory=Phases)

    def wall(self) -> float:
        """Wall time of the whole run so far, across resumes."""
        return self.wall_before + time.perf_counter() - self.t0

    def checkpoint_extra(self) -> dict[str, Any]:
        """What the checkpoint keeps besides weights and callback state."""
        return {"wall_time_s": self.wall(), "stop_training": bool(getattr(self.parts.model, "stop_training", False)),
                "rollbacks": self.recovery["rollbacks"], "lr_scale": self.recovery["lr_scale"]}


class _LastFinite:
    """In-memory copy of the last epoch-end state with finite weights: where a rollback returns to."""

    def __init__(self, guard, states: dict[str, Any]) -> None:
        self.guard = guard
        self.states = states
        self.snapshot: dict[str, Any] | None = None
        self.lr_scale = 1.0  # the rollback scale the optimizer runs under (the trainer keeps it current)

    def take(self, model, epoch: int) -> None:
        callbacks, arrays = capture_states(self.states)
        self.snapshot = {"epoch": epoch, "weights": model_state(model), "optimizer": optimizer_state(model),
                         "callbacks": callbacks, "state_arrays": arrays, "lr_scale": self.lr_scale}


class Trainer:
    """Run a recipe end to end.

    Args:
        recipe: A validated :class:`~kerastricks.recipes.Recipe`.
        out: The run directory to create (must not exist or be empty).
            Default: a new ``runs_root/<name>-<UTC time>``.
        runs_root: Parent of auto-named run directories.
        verbose: Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 one line
            per epoch); ``"auto"`` is 1 on a terminal, else 2.
        write: Write a run directory at all (``False`` keeps everything in memory).

    Example:
        >>> from kerastricks.recipes import load_recipe
        >>> result = Trainer(load_recipe(preset="mnist1d")).fit()
        >>> result.report["test"]["accuracy"]
    """

    def __init__(self, recipe: Recipe, *, out: str | Path | None = None, runs_root: str | Path = "runs",
                 verbose: int | str = "auto", write: bool = True) -> None:
        self.recipe = recipe
        self.out = out
        self.runs_root = runs_root
        self.verbose = (1 if sys.stdout.isatty() else 2) if verbose == "auto" else int(verbose)
        self.write = write
        self.run_dir: Path | None = None
        self._resume_state: tuple[dict, list, list] | None = None
        self._resumes = 0  # times this run was resumed (Trainer.resume counts them)
        if int(getattr(recipe.train, "ensemble", 1)) > 1:
            from kerastricks.errors import ConfigError

            raise ConfigError("the Trainer trains one model", file=recipe.source, key="train.ensemble",
                              expected="1 (train an ensemble with kerastricks.ensemble.train_ensemble or "
                                       "kerastricks train --ensemble N)", received=recipe.train.ensemble)
        if write and out is not None:
            check_out_dir(out)  # before any heavy work: one line, nothing created
        elif write:
            check_runs_root(runs_root)

    # ---- resume ------------------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, *, verbose: int | str = "auto", write: bool = True) -> Trainer:
        """A trainer that continues the run in ``run_dir`` from its last checkpoint.

        ``write=False`` only reads the checkpoint (the processes of a distributed run other than process 0).
        """
        from kerastricks.callbacks import read_checkpoint
        from kerastricks.evaluate import check_resumable

        run_dir = Path(run_dir)
        recipe = check_resumable(run_dir)  # the command line's own check: one line, nothing touched
        trainer = cls(recipe, verbose=verbose, write=False)
        if not write:
            ckpt = run_dir / CHECKPOINT_FILE
            trainer._resume_state = read_checkpoint(ckpt) if ckpt.exists() else None
            return trainer
        trainer.write = True
        trainer.run_dir = run_dir
        kio.remove_temp_files(run_dir)  # a kill mid-write leaves .name.XXXXXXXX files behind
        counter = run_dir / RESUMES_FILE
        try:
            trainer._resumes = int(counter.read_text()) + 1 if counter.exists() else 1
        except ValueError:
            raise RunDirError("unreadable resume counter", file=str(counter), key="--resume",
                              expected="an integer", received=counter.read_text()[:40]) from None
        ckpt = run_dir / CHECKPOINT_FILE
        if ckpt.exists():
            try:
                trainer._resume_state = read_checkpoint(ckpt)
            except Exception as exc:  # corrupt or foreign file
                raise RunDirError(f"unreadable checkpoint ({type(exc).__name__})", file=str(ckpt),
                                  key="--resume") from None
        if recipe.train.tensorboard:
            from kerastricks.callbacks.tensorboard import drop_events_from

            # the epochs after the checkpoint run again: their points must not appear twice
            drop_events_from(run_dir / LOGS_DIR, int(trainer._resume_state[0]["epoch"]) if ckpt.exists() else 0)
        return trainer

    # ---- main entry ----------------------------------------------------------------
    def fit(self) -> RunResult:
        """Train, evaluate and write the run; the global dtype policy is restored afterwards."""
        from kerastricks.runtime import prepared

        age, t0 = process_age(), time.perf_counter()
        with prepared(self.recipe.train, file=self.recipe.source) as runtime:
            from kerastricks.distribute import active

            distribution = active()  # [train] distribute: build and train in its scope
            if distribution is not None and not distribution.writes:
                self.write, self.run_dir = False, None  # only process 0 writes the run directory
            with distribution.scope() if distribution is not None else contextlib.nullcontext():
                return self._fit(runtime, startup=(age, time.perf_counter() - t0))

    def _fit(self, runtime, startup: tuple[float | None, float] = (None, 0.0)) -> RunResult:
        run = self._setup(runtime)
        if startup[0] is not None:  # interpreter start, imports, recipe validation (meaningful in `kerastricks train`)
            run.phases.add("startup", startup[0])
        run.phases.add("runtime", startup[1])
        self._callbacks(run)
        fit_wall = self._train(run)
        return self._finish(run, fit_wall)

    # ---- setup: build the phases; only then claim the run directory -------------------
    def _setup(self, runtime) -> _Run:
        recipe = self.recipe
        state = self._resume_state[0] if self._resume_state else None
        run = _Run(recipe=recipe, runtime=runtime, t0=time.perf_counter(),
                   wall_before=float(state["extra"].get("wall_time_s", 0.0)) if state else 0.0,
                   first_epoch=int(state["epoch"]) if state else 0, ctx=TrainContext.for_recipe(recipe))
        if state:
            run.recovery.update(rollbacks=int(state["extra"].get("rollbacks", 0)),
                                lr_scale=float(state["extra"].get("lr_scale", 1.0)))
        run.resumed = self._resumes
        run.techniques = recipe.build_techniques()
        with run.phases.time("build"):  # data, model, optimizer, loss, techniques
            run.parts = build_components(recipe, run.ctx, run.techniques, jit=runtime.jit,
                                         first_epoch=run.first_epoch)
        run.monitor = self._monitor(run.parts.dataset, run.parts.val_ds is not None)
        if getattr(recipe, "export", None) is not None:  # [export] checks that need the data, before training
            from kerastricks.compress.workflow import check_export

            check_export(recipe, run.parts.dataset, run.parts.model)
        if self.write and self.run_dir is None:
            # Setup worked (bad data, options or combinations have raised by now):
            # only now does the run get its directory, so a failed start leaves nothing behind.
            self.run_dir = (claim_out_dir(self.out) if self.out is not None
                            else make_run_dir(self.runs_root, recipe.name or "run"))
            kio.write_text(self.run_dir / RECIPE_FILE, recipe.to_toml())
        run.run_dir = run.ctx.run_dir = self.run_dir
        if self._resumes and run.run_dir is not None:  # counted once setup worked, before any training
            (run.run_dir / RESUMES_FILE).parent.mkdir(exist_ok=True)
            kio.write_text(run.run_dir / RESUMES_FILE, f"{self._resumes}\n")
        return run

    # ---- callbacks: the run's bookkeeping around the schedule's and the techniques' ---
    def _callbacks(self, run: _Run) -> None:
        from kerastricks.callbacks import BestModel, DivergenceGuard, EpochLogger, RunCheckpoint, TimeToTarget
        from kerastricks.callbacks.tensorboard import EpochSummaries

        train, parts, run_dir = self.recipe.train, run.parts, run.run_dir
        technique_callbacks = [cb for technique in run.techniques for cb in technique.callbacks(run.ctx)]
        run.guard = DivergenceGuard()
        run.logger = EpochLogger(run_dir / METRICS_FILE if run_dir else None, columns=run.ctx.epoch_columns)
        run.best = BestModel(monitor=run.monitor, mode=metric_mode(run.monitor), swap=run.ctx.eval_swap)
        if train.target is not None:
            tgt = train.target
            run.target = TimeToTarget(tgt.metric, tgt.value, metric_mode(tgt.metric, tgt.mode),
                                      examples_per_epoch=parts.n_train, stop_training=tgt.stop)
        run.stateful = {"epoch_log": run.logger, "best_model": run.best}
        if run.target is not None:
            run.stateful["time_to_target"] = run.target
        for prefix, cbs in (("technique", technique_callbacks), ("schedule", parts.schedule_callbacks)):
            for i, cb in enumerate(cbs):  # technique callbacks, the schedule's own (plateau, one-cycle momentum)
                if hasattr(cb, "state_dict"):
                    run.stateful[f"{prefix}_{i}_{type(cb).__name__}"] = cb
        run.last_finite = _LastFinite(run.guard, run.stateful)
        run.callbacks = [run.guard, run.logger, *parts.schedule_callbacks, *technique_callbacks]
        if run.target is not None:
            run.callbacks.append(run.target)
        run.callbacks += [run.best, _KeepLastFinite(run.last_finite, run.first_epoch)]
        if run_dir is not None:
            if train.tensorboard:
                # before the checkpoint: the points of every epoch it holds are on disk (see Trainer.resume)
                run.callbacks.append(EpochSummaries(run_dir / LOGS_DIR))
            run.callbacks.append(RunCheckpoint(  # last: it saves what the next epoch starts from
                run_dir / CHECKPOINT_FILE, every=int(train.checkpoint_every), states=run.stateful,
                extra=run.checkpoint_extra, skip=lambda: run.guard.diverged is not None))

    # ---- fit: model.fit from the first (or resumed) epoch, with stop / rollback --------
    def _train(self, run: _Run) -> float:
        train, parts, model = self.recipe.train, run.parts, run.parts.model
        finished = False
        if self._resume_state is not None:
            finished = self._restore(model, run.stateful)
            scale = run.recovery["lr_scale"]
            if scale != 1.0:  # the checkpoint's optimizer variables hold the scaled constant rate
                _scale_learning_rate(model, parts, scale, restored_scale=scale)
            run.last_finite.lr_scale = scale
        if run.run_dir is not None and train.plots:
            # matplotlib's import costs most of a second; do it while the model trains
            from kerastricks.plots import preload

            run.preloader = threading.Thread(target=preload, name="kerastricks-preload-plots", daemon=True)
            run.preloader.start()
        # A run resumed after its last epoch (or after an early stop) still calls fit, for no epochs: the
        # end of fit (EMA weights into the model, early stopping's best weights) happens as in the
        # uninterrupted run.
        segment_start = time.perf_counter()
        epoch, train_ds = run.first_epoch, parts.train_ds
        while True:
            with run.phases.time("fit"):
                model.fit(train_ds, validation_data=parts.val_ds, epochs=epoch if finished else parts.epochs,
                          initial_epoch=epoch, steps_per_epoch=run.ctx.steps_per_epoch, shuffle=False,
                          callbacks=run.callbacks, verbose=self.verbose)
            if run.guard.diverged is None:
                return time.perf_counter() - segment_start
            epoch = self._roll_back_or_stop(run)
            train_ds = parts.train_dataset(self.recipe, run.ctx, epoch)

    def _roll_back_or_stop(self, run: _Run) -> int:
        """After a diverged fit: raise :class:`Diverged`, or restore the last finite state with a lower
        rate and return the epoch to continue from."""
        train, recovery, guard, model = self.recipe.train, run.recovery, run.guard, run.parts.model
        event = {**guard.diverged, "lr_scale": recovery["lr_scale"]}
        recovery["events"].append(event)
        snap = run.last_finite.snapshot
        if train.on_nan != "rollback" or recovery["rollbacks"] >= train.nan_retries or snap is None:
            line = guard.describe(precision=run.runtime.precision)
            if train.on_nan == "rollback":
                line += f" (after {recovery['rollbacks']} rollback(s))" if snap is not None else \
                    " (no finite epoch to roll back to)"
            self._diverged(run, line)
        restore_model(model, snap["weights"])
        restore_optimizer(model, snap["optimizer"])
        restore_states(run.stateful, snap["callbacks"], snap["state_arrays"])
        recovery["rollbacks"] += 1
        recovery["lr_scale"] = float(f"{recovery['lr_scale'] * float(train.nan_lr_factor):.12g}")
        _scale_learning_rate(model, run.parts, recovery["lr_scale"], restored_scale=snap["lr_scale"])
        run.last_finite.lr_scale = recovery["lr_scale"]
        guard.reset()
        model.stop_training = False
        epoch = snap["epoch"] + 1
        if self.verbose:
            start = f"the end of epoch {epoch}" if epoch else "the initial weights"
            what = {"loss": "the training loss", "val_loss": "the validation loss"}.get(event["what"], "a weight")
            print(f"kerastricks: {what} became non-finite at epoch {event['epoch']}: rolled back to "
                  f"{start}, learning rate x{recovery['lr_scale']:g} (rollback {recovery['rollbacks']} of at "
                  f"most {train.nan_retries})", file=sys.stderr)
        return epoch

    # ---- finish: best weights, after_fit hooks, model.keras, test, report, plots -------
    def _finish(self, run: _Run, fit_wall: float) -> RunResult:
        from kerastricks.report import build_report

        train, parts, model, run_dir, ctx = self.recipe.train, run.parts, run.parts.model, run.run_dir, run.ctx
        if run.best.best_weights is not None:
            model.set_weights(run.best.best_weights)
        for technique in run.techniques:  # after_fit hooks start from the best model
            technique.after_fit(model, ctx)
        if not all_finite(model.get_weights()):  # e.g. an after_fit hook produced them: never saved
            self._diverged(run, "a model weight was non-finite after training; model.keras was not written")
        if run_dir is not None:
            from kerastricks.distribute.engine import local_variables

            with run.phases.time("save"):
                with kio.atomic_path(run_dir / MODEL_FILE) as tmp, local_variables():
                    model.save(tmp)
                for name, artifact in ctx.artifacts.items():  # what techniques hand back (a deploy model)
                    with kio.atomic_path(run_dir / name) as tmp, local_variables():
                        artifact.save(tmp)
        from kerastricks.distribute.engine import local_variables

        # every process predicts the whole test set (replicated weights and outputs)
        with run.phases.time("evaluate"), local_variables():
            test = evaluate_model(model, parts.dataset, batch_size=max(parts.batch_size, 256))
        rows = run.logger.rows
        recovery = run.recovery
        report = build_report(
            recipe=self.recipe, run_dir=run_dir, dataset=parts.dataset, model=model, optimizer=parts.optimizer,
            rows=rows, test=test, target_cb=run.target, best=run.best, monitor=run.monitor, runtime=run.runtime,
            ctx=ctx, techniques=run.techniques, wall=run.wall(), fit_wall=fit_wall, resumed=run.resumed,
            n_train=parts.n_train, divergence={k: recovery[k] for k in ("rollbacks", "lr_scale", "events")},
        )
        if getattr(self.recipe, "export", None) is not None and run_dir is not None:  # [export]: LiteRT file
            from kerastricks.compress.workflow import export_after_training

            report["export"] = export_after_training(model, parts.dataset, self.recipe, run_dir)
        from kerastricks.distribute import active

        report["distribution"] = None if active() is None else active().report(model)
        if run_dir is not None:
            if train.plots:
                with run.phases.time("plots"):
                    if run.preloader is not None:
                        run.preloader.join()
                    write_plots(run_dir, rows, test, parts.dataset, parts.schedule, ctx.steps_per_epoch,
                                parts.epochs)
            report["wall_time_s"] = run.wall()
            report["phases"] = _phase_report(run.phases, rows)
            kio.write_json(run_dir / REPORT_FILE, report)
        else:
            report["phases"] = _phase_report(run.phases, rows)
        return RunResult(run_dir=run_dir, report=report, model=model, history=rows)

    # ---- helpers -------------------------------------------------------------------
    def _diverged(self, run: _Run, line: str) -> None:
        """Write the diverged run's report (strict JSON, no model) and raise :class:`Diverged`."""
        recipe, recovery = self.recipe, run.recovery
        recovery["stopped"] = True
        recovery["message"] = line
        report = {"name": recipe.name, "recipe": recipe.source,
                  "run_dir": None if self.run_dir is None else str(self.run_dir),
                  "diverged": True, "divergence": recovery, "test": None, "model": None,
                  "epochs_run": len(run.logger.rows), "epochs_planned": int(recipe.train.epochs),
                  "last_epoch": run.logger.rows[-1] if run.logger.rows else {},
                  "wall_time_s": run.wall(), "seed": int(recipe.train.seed), **run.runtime.report()}
        if self.run_dir is not None:
            kio.write_json(self.run_dir / REPORT_FILE, report)
        raise Diverged(line, report)

    def _monitor(self, dataset, has_val: bool) -> str:
        monitor = self.recipe.train.monitor
        if monitor != "auto":
            return monitor  # a metric name, or "last"
        base = "accuracy" if dataset.task == "classification" else "loss"
        return f"val_{base}" if has_val else base

    def _restore(self, model, stateful: dict[str, Any]) -> bool:
        state, variables, opt_values = self._resume_state
        try:
            restore_model(model, variables)
            restore_optimizer(model, opt_values)
        except ValueError as exc:
            raise RunDirError(f"checkpoint does not match the recipe's model ({exc})",
                              file=str(self.run_dir / CHECKPOINT_FILE), key="--resume") from None
        restore_states(stateful, state["callbacks"], state.get("state_arrays", {}))
        return bool(state["extra"].get("stop_training", False))


class _KeepLastFinite(keras.callbacks.Callback):
    """Keeps :class:`_LastFinite` current: the state before the first epoch, then every finite epoch end."""

    def __init__(self, last_finite: _LastFinite, first_epoch: int) -> None:
        super().__init__()
        self.last_finite = last_finite
        self.first_epoch = first_epoch

    def on_train_begin(self, logs=None):
        # The optimizer is built by now (fit builds before on_train_begin): a run that diverges in its
        # first epoch rolls back to its initial weights and optimizer state.
        if self.last_finite.snapshot is None and all_finite(self.model.get_weights()):
            self.last_finite.take(self.model, self.first_epoch - 1)

    def on_epoch_end(self, epoch, logs=None):
        if self.last_finite.guard.diverged is None:
            self.last_finite.take(self.model, epoch)


def _phase_report(phases: Phases, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Where a run's time went: wall and CPU seconds per phase, the first epoch (tracing) apart."""
    out = phases.as_dict()
    if rows and "epoch_time_s" in rows[0]:
        out["first_epoch_s"] = rows[0]["epoch_time_s"]  # graph tracing and compilation, with the first epoch
    return out


def _scale_learning_rate(model, parts: Components, scale: float, *, restored_scale: float) -> None:
    """Make the optimizer follow ``scale`` x the recipe's rate (a rollback's lower rate).

    A schedule object is wrapped in :class:`~kerastricks.schedules.ScaledLearningRate`; a constant rate
    lives in an optimizer variable that the restored state already holds (with any plateau cuts, under
    ``restored_scale``), so it is multiplied by ``scale / restored_scale``. Schedule callbacks that set
    the rate themselves (the plateau schedule's warmup) get the scale too.
    """
    from kerastricks.schedules.scaled import ScaledLearningRate

    for callback in parts.schedule_callbacks:
        if hasattr(callback, "scale"):
            callback.scale = scale
    optimizer = model.optimizer
    target = getattr(optimizer, "inner_optimizer", None) or getattr(optimizer, "inner", None) or optimizer
    schedule = parts.schedule
    if isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule):
        target.learning_rate = ScaledLearningRate(schedule, scale)
        model.train_function = None  # the compiled step captured the old rate: trace again
    elif scale != restored_scale:
        current = float(keras.ops.convert_to_numpy(target.learning_rate))
        target.learning_rate = current * scale / restored_scale
