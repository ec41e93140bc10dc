"""The trainer: runs a recipe end to end, built on ``model.fit``.

``Trainer(recipe).fit()`` loads the data, builds model, optimizer and loss,
applies every enabled technique phase by phase (see
:mod:`kerastricks.techniques.base`), trains with resumable checkpoints, then
evaluates the best model on the test set and writes the run directory:

.. code-block:: text

    runs/<name>-<UTC time>/
      recipe.toml        the resolved recipe (every default filled in)
      metrics.csv        one row per epoch (metrics, learning rate, timings)
      report.json        test metrics, timings, time-to-target, sizes, versions
      model.keras        the best model by train.monitor (written when training ends)
      checkpoints/       last.npz: weights, optimizer state, callback state (resume)
      logs/              TensorBoard
      plots/             curves.png, learning_rate.png, confusion_matrix.png,
                         per_class_accuracy.png (long-tailed training data)

Every file is written atomically (temp file + rename).
"""

from __future__ import annotations

import math
import os
import platform
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import keras
import numpy as np

from kerastricks import io as kio
from kerastricks.callbacks import (
    BestModel,
    EpochLogger,
    RunCheckpoint,
    TimeToTarget,
    read_checkpoint,
    restore_optimizer,
    steady_examples_per_s,
)
from kerastricks.errors import RunDirError
from kerastricks.recipes import Recipe, metric_mode
from kerastricks.techniques import TrainContext

RECIPE_FILE = "recipe.toml"
REPORT_FILE = "report.json"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.keras"
CHECKPOINT_FILE = Path("checkpoints") / "last.npz"


@dataclass
class RunResult:
    """What :meth:`Trainer.fit` returns."""

    run_dir: Path | None
    report: dict[str, Any]
    model: keras.Model
    history: list[dict[str, Any]] = field(default_factory=list)


def versions() -> dict[str, str]:
    import tensorflow as tf

    from kerastricks import __version__

    return {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "kerastricks": __version__,
    }


def gpu_available() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_memory_peak() -> int | None:
    """Peak memory allocated on the first GPU so far, in bytes (None without a GPU)."""
    if not gpu_available():
        return None
    import tensorflow as tf

    try:
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except (ValueError, RuntimeError):  # pragma: no cover - depends on the device
        return None


def resolve_jit(value: Any) -> tuple[bool, str]:
    """The effective ``jit_compile`` and why."""
    if value == "auto":
        if gpu_available():
            return True, "auto: GPU present, XLA on"
        return False, ("auto: CPU only, XLA gave no speed-up on CPU in our measurements "
                       "(docs/techniques/mixed_precision.md)")
    return bool(value), "set in recipe"


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags that make ``mixed_bfloat16`` fast on a CPU (oneDNN bf16 kernels)."""


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no ``/proc/cpuinfo``)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def gpu_compute_capability() -> tuple[int, int] | None:
    """Compute capability of the first GPU, e.g. ``(8, 0)``; None without one."""
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    cc = details.get("compute_capability")
    return None if cc is None else (int(cc[0]), int(cc[1]))


def resolve_precision(value: str, *, flags: set[str] | None = None,
                      capability: tuple[int, int] | None | str = "detect") -> tuple[str, str]:
    """The Keras dtype policy for ``[train] precision`` and why.

    ``"auto"`` picks, in order:

    - a GPU with compute capability >= 8.0 (Ampere and newer, bf16 tensor
      cores): ``mixed_bfloat16``;
    - an older GPU: ``mixed_float16`` (Keras wraps the optimizer in a
      ``LossScaleOptimizer`` when the model is compiled);
    - a CPU with AVX512-BF16 or AMX-BF16 (``/proc/cpuinfo`` flags
      :data:`BF16_CPU_FLAGS`): ``mixed_bfloat16``;
    - otherwise ``float32`` (bf16 without hardware support is emulated and slower).

    Args:
        value: ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"`` or ``"auto"``.
        flags: CPU flags to decide on (default: read ``/proc/cpuinfo``).
        capability: GPU compute capability to decide on, None for no GPU
            (default: ask TensorFlow).

    Returns:
        ``(policy name, reason)``.
    """
    if value != "auto":
        return value, "set in recipe"
    cc = gpu_compute_capability() if capability == "detect" else capability
    if cc is not None:
        if cc >= (8, 0):
            return "mixed_bfloat16", f"auto: GPU compute capability {cc[0]}.{cc[1]} >= 8.0 (bf16 tensor cores)"
        return "mixed_float16", f"auto: GPU compute capability {cc[0]}.{cc[1]} < 8.0 (fp16 with loss scaling)"
    flags = cpu_flags() if flags is None else flags
    found = sorted(f for f in BF16_CPU_FLAGS if f in flags)
    if found:
        return "mixed_bfloat16", f"auto: CPU has {', '.join(found)}"
    return "float32", "auto: no GPU and no CPU bf16 support (avx512_bf16/amx_bf16 absent)"


def optimizer_state_size(optimizer: keras.optimizers.Optimizer) -> dict[str, int]:
    """Scalars and bytes held by the optimizer's variables (iteration counter included)."""
    scalars = 0
    nbytes = 0
    for var in optimizer.variables:
        n = int(np.prod(var.shape)) if len(var.shape) else 1
        scalars += n
        nbytes += n * np.dtype(keras.backend.standardize_dtype(var.dtype)).itemsize
    return {"scalars": scalars, "bytes": nbytes}


def configure_threads(threads: Any) -> str:
    """Apply ``[train] threads``; returns what was done, for the report.

    TensorFlow accepts thread settings only before its runtime starts, so in a
    process that already ran TensorFlow ops the setting is reported as not
    applied instead of failing the run.
    """
    if threads == "auto":
        return "auto (TensorFlow default)"
    import tensorflow as tf

    n = int(threads)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current == n:
            return f"{n}"
        return f"not applied ({n} requested): TensorFlow was already running in this process"
    return f"{n}"


def make_run_dir(root: str | Path, name: str) -> Path:
    """Create a new, unique ``root/<name>-<UTC time>`` directory."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{name}-{stamp}"
    for i in range(1000):
        candidate = root / (base if i == 0 else f"{base}-{i + 1}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunDirError("cannot create a unique run directory", file=str(root))  # pragma: no cover


def check_out_dir(path: str | Path, hint: str = "choose a new --out or continue it with --resume") -> Path:
    """Raise ``RunDirError`` unless ``path`` can become a run directory (absent or empty)."""
    path = Path(path)
    if path.exists():
        if not path.is_dir():
            raise RunDirError("exists and is not a directory", file=str(path), key="--out")
        if any(path.iterdir()):
            raise RunDirError(
                "already exists and is not empty; nothing was overwritten",
                file=str(path),
                key="--out",
                hint=hint,
            )
    return path


def claim_out_dir(path: str | Path, hint: str = "choose a new --out or continue it with --resume") -> Path:
    """Use ``path`` as the run directory; it must not exist or be empty."""
    path = check_out_dir(path, hint)
    path.mkdir(parents=True, exist_ok=True)
    return path


class Trainer:
    """Run a recipe end to end.

    Args:
        recipe: A validated :class:`~kerastricks.recipes.Recipe`.
        out: The run directory to create (must not exist or be empty).
            Default: a new ``runs_root/<name>-<UTC time>``.
        runs_root: Parent of auto-named run directories.
        verbose: Keras ``fit`` verbosity (0 silent, 1 progress bar, 2 one line
            per epoch); ``"auto"`` is 1 on a terminal, else 2.
        write: Write a run directory at all (``False`` keeps everything in
            memory, e.g. for quick experiments).

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

    # ---- resume ------------------------------------------------------------------
    @classmethod
    def resume(cls, run_dir: str | Path, *, verbose: int | str = "auto") -> Trainer:
        """A trainer that continues the run in ``run_dir`` from its last checkpoint."""
        from kerastricks.recipes import load_recipe

        run_dir = Path(run_dir)
        if not run_dir.is_dir():
            raise RunDirError("not a directory", file=str(run_dir), key="--resume")
        if not (run_dir / RECIPE_FILE).exists():
            raise RunDirError(
                "not a kerastricks run directory", file=str(run_dir), key="--resume",
                expected=f"a directory with {RECIPE_FILE}", received="no recipe.toml",
            )
        if (run_dir / REPORT_FILE).exists():
            raise RunDirError("run is already complete (report.json exists); nothing to resume",
                              file=str(run_dir), key="--resume")
        recipe = load_recipe(run_dir / RECIPE_FILE)
        trainer = cls(recipe, verbose=verbose)
        trainer.run_dir = run_dir
        ckpt = run_dir / CHECKPOINT_FILE
        if ckpt.exists():
            try:
                trainer._resume_state = read_checkpoint(ckpt)
            except Exception as exc:  # corrupt or foreign file
                raise RunDirError(f"unreadable checkpoint ({type(exc).__name__})", file=str(ckpt),
                                  key="--resume") from None
        return trainer

    # ---- main entry ----------------------------------------------------------------
    def fit(self) -> RunResult:
        """Train, evaluate and write the run; the global dtype policy is restored afterwards."""
        previous_policy = keras.mixed_precision.global_policy()
        try:
            return self._fit()
        finally:
            keras.mixed_precision.set_global_policy(previous_policy)

    def _fit(self) -> RunResult:
        t0 = time.perf_counter()
        recipe = self.recipe
        train_cfg = recipe.train
        state = self._resume_state[0] if self._resume_state else None
        wall_before = float(state["extra"].get("wall_time_s", 0.0)) if state else 0.0

        new_run = self.write and self.run_dir is None
        if new_run and self.out is not None:
            check_out_dir(self.out)  # fail before any heavy work; created once setup succeeded

        threads = configure_threads(train_cfg["threads"])
        seed = int(train_cfg["seed"])
        keras.utils.set_random_seed(seed)
        if train_cfg["deterministic"]:
            import tensorflow as tf

            tf.config.experimental.enable_op_determinism()
        precision, precision_reason = resolve_precision(train_cfg["precision"])
        keras.mixed_precision.set_global_policy(precision)
        jit, jit_reason = resolve_jit(train_cfg["jit_compile"])

        ctx = TrainContext(recipe=recipe, file=recipe.source, run_dir=self.run_dir)
        techniques = recipe.build_techniques()

        parts = build_components(recipe, ctx, techniques, jit=jit)
        dataset, train_ds, val_ds, model, optimizer = (parts.dataset, parts.train_ds, parts.val_ds, parts.model,
                                                       parts.optimizer)
        schedule, schedule_callbacks = parts.schedule, parts.schedule_callbacks
        batch_size, n_train, epochs = parts.batch_size, parts.n_train, parts.epochs
        monitor = self._monitor(dataset, val_ds is not None)

        # Setup worked (bad data, options or combinations have raised by now):
        # only now does the run get its directory, so a failed start leaves nothing behind.
        if new_run:
            name = recipe.name or "run"
            self.run_dir = claim_out_dir(self.out) if self.out is not None else make_run_dir(self.runs_root, name)
            kio.write_text(self.run_dir / RECIPE_FILE, recipe.to_toml())
        run_dir = ctx.run_dir = self.run_dir

        # callbacks phase
        technique_callbacks: list[keras.callbacks.Callback] = []
        for technique in techniques:
            technique_callbacks.extend(technique.callbacks(ctx))
        swap = next((cb for cb in technique_callbacks if isinstance(cb, keras.callbacks.SwapEMAWeights)), None)
        logger = EpochLogger(run_dir / METRICS_FILE if run_dir else None)
        best = BestModel(monitor=monitor, mode=metric_mode(monitor), swap=swap)
        target_cb = None
        if train_cfg["target"] is not None:
            tgt = train_cfg["target"]
            target_cb = TimeToTarget(tgt["metric"], tgt["value"], metric_mode(tgt["metric"], tgt["mode"]),
                                     examples_per_epoch=n_train, stop_training=bool(tgt.get("stop", False)))
        stateful: dict[str, Any] = {"epoch_log": logger, "best_model": best}
        if target_cb is not None:
            stateful["time_to_target"] = target_cb
        for i, cb in enumerate(technique_callbacks):
            if hasattr(cb, "state_dict"):
                stateful[f"technique_{i}_{type(cb).__name__}"] = cb
        for i, cb in enumerate(schedule_callbacks):  # the schedule's own (plateau, one-cycle momentum)
            if hasattr(cb, "state_dict"):
                stateful[f"schedule_{i}_{type(cb).__name__}"] = cb

        segment_start = time.perf_counter()

        def extra() -> dict[str, Any]:
            return {"wall_time_s": wall_before + time.perf_counter() - t0,
                    "stop_training": bool(getattr(model, "stop_training", False))}

        checkpoint = None
        callbacks: list[keras.callbacks.Callback] = []
        if run_dir is not None:
            checkpoint = RunCheckpoint(run_dir / CHECKPOINT_FILE, every=int(train_cfg["checkpoint_every"]),
                                       states=stateful, extra=extra)
            callbacks.append(checkpoint.capture)
        callbacks.append(logger)
        callbacks.extend(schedule_callbacks)
        callbacks.extend(technique_callbacks)
        if target_cb is not None:
            callbacks.append(target_cb)
        callbacks.append(best)
        if run_dir is not None and train_cfg["tensorboard"]:
            callbacks.append(keras.callbacks.TensorBoard(log_dir=str(run_dir / "logs"), write_graph=False,
                                                         update_freq="epoch", profile_batch=0))
        if checkpoint is not None:
            callbacks.append(checkpoint.commit)

        initial_epoch = 0
        finished = False
        resumed = 0
        if self._resume_state is not None:
            initial_epoch, finished = self._restore(model, stateful)
            resumed = int(state["extra"].get("resumed", 0)) + 1

        preloader = None
        if run_dir is not None and train_cfg["plots"]:
            # matplotlib's import costs most of a second; do it while the model trains
            from kerastricks.plots import preload

            preloader = threading.Thread(target=preload, name="kerastricks-preload-plots", daemon=True)
            preloader.start()

        if not finished and initial_epoch < epochs:
            model.fit(train_ds, validation_data=val_ds, epochs=epochs, initial_epoch=initial_epoch, shuffle=False,
                      callbacks=callbacks, verbose=self.verbose)
        fit_wall = time.perf_counter() - segment_start

        # the best model by train.monitor; after_fit hooks (decoupled classifier
        # re-training, re-parameterization) start from it, and model.keras is their result
        if best.best_weights is not None:
            model.set_weights(best.best_weights)
        for technique in techniques:
            technique.after_fit(model, ctx)
        if run_dir is not None:
            with kio.atomic_path(run_dir / MODEL_FILE) as tmp:
                model.save(tmp)

        test = evaluate_model(model, dataset, batch_size=max(batch_size, 256))
        rows = logger.rows
        report = self._report(
            recipe=recipe, dataset=dataset, model=model, optimizer=optimizer, rows=rows, test=test,
            target_cb=target_cb, best=best, monitor=monitor, jit=(jit, jit_reason), ctx=ctx,
            precision=(precision, precision_reason),
            techniques=techniques, wall=wall_before + time.perf_counter() - t0, fit_wall=fit_wall,
            resumed=resumed, n_train=n_train, threads=threads,
        )
        if run_dir is not None:
            if train_cfg["plots"]:
                if preloader is not None:
                    preloader.join()
                write_plots(run_dir, rows, test, dataset, schedule, ctx.steps_per_epoch, epochs)
            report["wall_time_s"] = wall_before + time.perf_counter() - t0
            kio.write_json(run_dir / REPORT_FILE, report)
        return RunResult(run_dir=run_dir, report=report, model=model, history=rows)

    # ---- helpers -------------------------------------------------------------------
    def _monitor(self, dataset, has_val: bool) -> str:
        monitor = self.recipe.train["monitor"]
        if monitor != "auto":
            return monitor  # a metric name, or "last"
        base = "accuracy" if dataset.task == "classification" else "loss"
        return f"val_{base}" if has_val else base

    def _restore(self, model: keras.Model, stateful: dict[str, Any]) -> tuple[int, bool]:
        state, weights, opt_values = self._resume_state
        try:
            model.set_weights(weights)
            restore_optimizer(model, opt_values)
        except ValueError as exc:
            raise RunDirError(f"checkpoint does not match the recipe's model ({exc})",
                              file=str(self.run_dir / CHECKPOINT_FILE), key="--resume") from None
        for name, obj in stateful.items():
            if name in state["callbacks"]:
                obj.load_state_dict(state["callbacks"][name])
            if name in state.get("state_arrays", {}) and hasattr(obj, "load_state_arrays"):
                obj.load_state_arrays(state["state_arrays"][name])
        return int(state["epoch"]), bool(state["extra"].get("stop_training", False))

    def _report(self, *, recipe, dataset, model, optimizer, rows, test, target_cb, best, monitor, jit, precision,
                ctx, techniques, wall, fit_wall, resumed, n_train, threads) -> dict[str, Any]:
        epochs_run = len(rows)
        target = recipe.train["target"]
        technique_report = {}
        for technique in techniques:
            technique_report[technique.name] = {"options": technique.get_config(), **ctx.notes.get(technique.name, {})}
        return {
            "name": recipe.name,
            "recipe": recipe.source,
            "run_dir": None if self.run_dir is None else str(self.run_dir),
            "test": test,
            "best": {"monitor": monitor, "value": best.best, "epoch": best.best_epoch},
            "last_epoch": rows[-1] if rows else {},
            "wall_time_s": wall,
            "fit_time_s": rows[-1]["elapsed_s"] if rows else fit_wall,
            "target": target,
            "time_to_target_s": None if target_cb is None else target_cb.time_to_target_s,
            "epochs_to_target": None if target_cb is None else target_cb.epoch_reached,
            "steps_to_target": None if target_cb is None else target_cb.steps_reached,
            "examples_to_target": None if target_cb is None else target_cb.examples_reached,
            "epochs_run": epochs_run,
            "epochs_planned": int(recipe.train["epochs"]),
            "stopped_early": epochs_run < int(recipe.train["epochs"]),
            "steps_per_epoch": ctx.steps_per_epoch,
            "examples_trained": n_train * epochs_run,
            "examples_fresh": int(round(n_train * epochs_run * ctx.fresh_fraction)),
            "examples_fresh_to_target": (None if target_cb is None or target_cb.examples_reached is None
                                         else int(round(target_cb.examples_reached * ctx.fresh_fraction))),
            "examples_per_s": steady_examples_per_s(rows, n_train),
            "params": int(model.count_params()),
            "trainable_params": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
            "optimizer_state": optimizer_state_size(optimizer),
            "precision_policy": precision[0],
            "precision": {"value": precision[0], "reason": precision[1]},
            "jit_compile": {"value": jit[0], "reason": jit[1]},
            "threads": threads,
            "seed": int(recipe.train["seed"]),
            "dataset": dataset.summary(),
            "techniques": technique_report,
            "resumed": resumed,
            "versions": versions(),
            "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "gpu": gpu_available()},
            "device_memory_peak_bytes": device_memory_peak(),
            "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }


@dataclass
class Components:
    """What a recipe builds before training (see :func:`build_components`)."""

    dataset: Any
    train_ds: Any
    val_ds: Any
    model: keras.Model
    optimizer: keras.optimizers.Optimizer
    schedule: Any
    schedule_callbacks: list
    batch_size: int
    n_train: int
    epochs: int


def build_components(recipe: Recipe, ctx: TrainContext, techniques: list, *, jit: bool = False) -> Components:
    """Data, compiled model, optimizer and loss of a recipe, techniques applied phase by phase.

    Shared by :meth:`Trainer.fit` and ``kerastricks lr-find``; seeds and the
    precision policy are set by the caller.
    """
    train_cfg = recipe.train
    seed = int(train_cfg["seed"])
    # data phase
    from kerastricks.data import build_augmentation, make_tf_dataset

    dataset = load_recipe_dataset(recipe)
    for technique in techniques:
        dataset = technique.apply_to_data(dataset, ctx)
    ctx.dataset = dataset
    batch_size = int(train_cfg["batch_size"])
    n_train = len(dataset.x_train)
    # One epoch trains on n_train examples (ceil(n_train / batch_size) steps) whatever the
    # techniques do; a technique that echoes data reads fewer fresh examples per epoch and
    # says so in ctx.fresh_fraction.
    ctx.steps_per_epoch = math.ceil(n_train / batch_size)
    stages: dict[str, list] = {}
    for technique in techniques:
        for stage, fn in technique.pipeline_stages(ctx).items():
            stages.setdefault(stage, []).append(fn)
    train_ds = make_tf_dataset(dataset.x_train, dataset.y_train, batch_size=batch_size, shuffle=True,
                               seed=seed, shuffle_buffer=recipe.data.get("shuffle_buffer"),
                               augment=build_augmentation(recipe.data.get("augment"), file=recipe.source),
                               stages=stages, threads=recipe.data.get("threads"))
    for technique in techniques:
        train_ds = technique.apply_to_pipeline(train_ds, ctx)
    val_ds = None
    if dataset.x_val is not None and len(dataset.x_val):
        val_ds = make_tf_dataset(dataset.x_val, dataset.y_val, batch_size=max(batch_size, 256),
                                 shuffle=False, seed=seed)

    # model phase
    from kerastricks.models import build_model

    model_opts = recipe.options("model")
    for technique in techniques:
        model_opts = technique.model_options(model_opts, ctx)
    model = build_model(recipe.model["name"], input_shape=dataset.input_shape, num_outputs=dataset.output_dim,
                        task=dataset.task, options=model_opts, file=recipe.source)
    for technique in techniques:
        model = technique.apply_to_model(model, ctx)

    # optimizer phase
    from kerastricks.optimizers import build_optimizer
    from kerastricks.schedules import build_schedule

    opt_opts = recipe.options("optimizer")
    base_lr = opt_opts.pop("learning_rate", None)
    if base_lr is None:
        base_lr = 1e-3
    epochs = int(train_cfg["epochs"])
    schedule, schedule_callbacks = build_schedule(
        recipe.schedule["name"], recipe.options("schedule"), learning_rate=float(base_lr),
        steps_per_epoch=ctx.steps_per_epoch, epochs=epochs, file=recipe.source, with_callbacks=True)
    for technique in techniques:
        opt_opts = technique.optimizer_options(opt_opts, ctx)
    optimizer = build_optimizer(recipe.optimizer["name"], opt_opts, learning_rate=schedule, file=recipe.source)
    for technique in techniques:
        optimizer = technique.apply_to_optimizer(optimizer, ctx)

    # loss phase
    from kerastricks.losses import build_loss

    counts = None
    if dataset.task == "classification":
        from kerastricks.data.long_tail import class_counts

        counts = class_counts(dataset.y_train, dataset.num_classes)
    loss = build_loss(recipe.loss["name"], recipe.options("loss"), task=dataset.task, file=recipe.source,
                      class_counts=counts)
    for technique in techniques:
        loss = technique.apply_to_loss(loss, ctx)
    metrics = ["accuracy"] if dataset.task == "classification" else ["mae"]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit,
                  steps_per_execution=int(train_cfg["steps_per_execution"]))
    return Components(dataset=dataset, train_ds=train_ds, val_ds=val_ds, model=model, optimizer=optimizer,
                      schedule=schedule, schedule_callbacks=schedule_callbacks, batch_size=batch_size,
                      n_train=n_train, epochs=epochs)


def load_recipe_dataset(recipe: Recipe):
    """The dataset a recipe's ``[data]`` section describes, split by ``train.seed``."""
    from kerastricks.data import load_dataset

    return load_dataset(
        recipe.data["name"],
        recipe.data_options,
        validation_split=float(recipe.data["validation_split"]),
        normalize=recipe.data["normalize"],
        seed=int(recipe.train["seed"]),
        file=recipe.source,
        long_tail=recipe.data.get("long_tail"),
    )


def evaluate_model(model: keras.Model, dataset, batch_size: int = 256) -> dict[str, Any]:
    """Test-set metrics of ``model`` on ``dataset`` (loss plus task metrics)."""
    from kerastricks.evaluation import classification_metrics, regression_metrics

    x, y = dataset.x_test, dataset.y_test
    result: dict[str, Any] = {}
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    loss = getattr(model, "loss", None)
    if loss is not None:
        loss_fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        result["loss"] = float(keras.ops.convert_to_numpy(loss_fn(y, logits)))
    if dataset.task == "classification":
        from kerastricks.data.long_tail import class_counts

        pred = np.argmax(logits, axis=-1)
        result.update(classification_metrics(y, pred, dataset.num_classes, dataset.class_names,
                                             train_counts=class_counts(dataset.y_train, dataset.num_classes)))
    else:
        result.update(regression_metrics(y, logits))
    result["examples"] = int(len(x))
    return result


def write_plots(run_dir: Path, rows, test, dataset, schedule, steps_per_epoch: int, epochs: int) -> None:
    from kerastricks import plots
    from kerastricks.schedules import learning_rate_at

    folder = run_dir / "plots"
    if rows:
        plots.learning_curves(rows, folder / "curves.png")
        if callable(schedule):
            total = max(1, steps_per_epoch * len(rows))
            steps = np.unique(np.linspace(0, total, num=min(total + 1, 400)).astype(int))
            plots.learning_rate_curve(steps, learning_rate_at(schedule, steps), folder / "learning_rate.png")
        else:
            steps = np.array([r["epoch"] * steps_per_epoch for r in rows])
            plots.learning_rate_curve(steps, np.array([r["learning_rate"] for r in rows]),
                                      folder / "learning_rate.png")
    if "confusion_matrix" in test:
        names = dataset.class_names or [str(i) for i in range(dataset.num_classes)]
        plots.confusion_matrix_plot(np.array(test["confusion_matrix"]), names, folder / "confusion_matrix.png")
    if "shots" in test:
        plots.per_class_accuracy_plot([r["recall"] for r in test["per_class"]],
                                      [r["train_count"] for r in test["per_class"]], names,
                                      folder / "per_class_accuracy.png")
