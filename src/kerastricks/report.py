"""The end of a run: test-set evaluation, ``report.json`` and the plots."""

from __future__ import annotations

import os
import platform
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from kerastricks._lazy import keras
from kerastricks.callbacks.epoch_log import speed_window
from kerastricks.runtime import device_memory_peak, gpu_available, optimizer_state_size, versions


def build_report(*, recipe, run_dir: Path | None, dataset, model, optimizer, rows, test, target_cb, best, monitor,
                 runtime, ctx, techniques, wall: float, fit_wall: float, resumed: int, n_train: int,
                 divergence: dict[str, Any] | None = None) -> dict[str, Any]:
    """The run's ``report.json`` content (strict JSON once written: non-finite numbers become null)."""
    epochs_run = len(rows)
    train = recipe.train
    target = None if train.target is None else train.target.to_dict()
    technique_report = {t.name: {"options": t.get_config(), **ctx.notes.get(t.name, {})} for t in techniques}
    fresh = ctx.fresh_fraction
    window = speed_window(rows, n_train, ctx.steps_per_epoch)
    report = {
        "name": recipe.name,
        "recipe": recipe.source,
        "run_dir": None if run_dir is None else str(run_dir),
        "diverged": bool(divergence and divergence.get("stopped")),
        "divergence": divergence or {"rollbacks": 0},
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
        "epochs_planned": int(train.epochs),
        "stopped_early": epochs_run < int(train.epochs),
        "steps_per_epoch": ctx.steps_per_epoch,
        "examples_trained": n_train * epochs_run,
        "examples_fresh": int(round(n_train * epochs_run * fresh)),
        "examples_fresh_to_target": (None if target_cb is None or target_cb.examples_reached is None
                                     else int(round(target_cb.examples_reached * fresh))),
        "examples_per_s": None if window is None else window["examples_per_s"],
        "cpu_s_per_example": None if window is None else window["cpu_s_per_example"],
        "speed_window": window,
        "params": int(model.count_params()),
        "trainable_params": int(sum(int(np.prod(v.shape)) for v in model.trainable_variables)),
        "optimizer_state": optimizer_state_size(optimizer),
        **runtime.report(),
        "seed": int(train.seed),
        "dataset": dataset.summary(),
        "techniques": technique_report,
        **({"transfer": ctx.notes["transfer"]} if "transfer" in ctx.notes else {}),
        "resumed": resumed,
        "versions": versions(),
        "machine": {"platform": platform.platform(), "cpu_count": os.cpu_count(), "gpu": gpu_available()},
        "device_memory_peak_bytes": device_memory_peak(),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return report


def _replica_divisor() -> float:
    """What Keras divided a loss by because a ``tf.distribute`` strategy is active (1 otherwise).

    On TensorFlow, a Keras ``Loss`` called under a strategy's scope divides its
    value by the number of replicas, ready to be summed over them; the test loss
    here is computed once over the whole test set, so the division is undone
    (as Keras's own trainer does for the losses it logs).
    """
    if keras.backend.backend() != "tensorflow":
        return 1.0
    import tensorflow as tf

    return float(tf.distribute.get_strategy().num_replicas_in_sync)


def evaluate_model(model: keras.Model, dataset, batch_size: int = 256) -> dict[str, Any]:
    """Test-set metrics of ``model`` on ``dataset`` (loss plus task metrics)."""
    from kerastricks.evaluation import classification_metrics, regression_metrics

    x, y = dataset.x_test, dataset.y_test
    result: dict[str, Any] = {}
    logits = model.predict(x, batch_size=batch_size, verbose=0)
    loss = getattr(model, "loss", None)
    if loss is not None:
        loss_fn = keras.losses.get(loss) if isinstance(loss, str) else loss
        # a loss named by a string is Keras's function, one value per example: their mean is the Loss's value
        value = np.mean(keras.ops.convert_to_numpy(loss_fn(y, logits)))
        result["loss"] = float(value) * _replica_divisor()
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
