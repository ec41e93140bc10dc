"""Recipe -> dataset, model, optimizer, loss: the phases, with every technique applied in order.

The recipe was validated once (:mod:`kerastricks.recipes.schema`); the builders
here trust it (``validated=True``) and only add what needs the data (input
shape, class counts, steps per epoch). Shared by ``train``, ``lr-find`` and
``memory``; the runtime (seed, precision, ...) is prepared by the caller
(:func:`kerastricks.runtime.prepare`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from kerastricks.recipes import Recipe
from kerastricks.techniques import TrainContext


@dataclass
class Components:
    """What a recipe builds before training (see :func:`build_components`)."""

    dataset: Any
    train_ds: Any
    val_ds: Any
    model: Any
    optimizer: Any
    schedule: Any
    schedule_callbacks: list
    batch_size: int
    n_train: int
    epochs: int
    stages: dict

    def train_dataset(self, recipe: Recipe, ctx: TrainContext, first_epoch: int) -> Any:
        """The training pipeline for epochs ``first_epoch .. epochs-1`` (per-epoch randomness; see
        :func:`kerastricks.data.make_tf_dataset`), with every technique's pipeline hook applied."""
        return make_train_dataset(recipe, ctx, self.dataset, self.stages, first_epoch)


def load_recipe_dataset(recipe: Recipe):
    """The dataset a recipe's ``[data]`` section describes, split by ``train.seed``."""
    from kerastricks.data import load_dataset

    dataset = load_dataset(
        recipe.data["name"],
        recipe.data_options,
        validation_split=float(recipe.data["validation_split"]),
        normalize=recipe.data["normalize"],
        seed=recipe.train.seed,
        file=recipe.source,
        long_tail=recipe.data.get("long_tail"),
        validated=True,
    )
    if recipe.data.get("classes") is not None or recipe.data.get("train_examples") is not None:
        from kerastricks.data.subsets import select_classes, subsample_train

        if recipe.data.get("classes") is not None:
            dataset = select_classes(dataset, recipe.data["classes"], file=recipe.source)
        if recipe.data.get("train_examples") is not None:
            dataset = subsample_train(dataset, int(recipe.data["train_examples"]), recipe.train.seed,
                                      file=recipe.source)
    return dataset


def make_train_dataset(recipe: Recipe, ctx: TrainContext, dataset: Any, stages: dict, first_epoch: int) -> Any:
    from kerastricks.data import build_augmentation, make_tf_dataset

    train_ds = make_tf_dataset(dataset.x_train, dataset.y_train, batch_size=ctx.batch_size, shuffle=True,
                               seed=ctx.seed, shuffle_buffer=recipe.data.get("shuffle_buffer"),
                               augment=build_augmentation(recipe.data.get("augment"), file=recipe.source),
                               stages=stages, threads=recipe.data.get("threads"),
                               epoch_range=(int(first_epoch), ctx.epochs), epoch_steps=ctx.steps_per_epoch)
    for technique in ctx.techniques:
        train_ds = technique.apply_to_pipeline(train_ds, ctx)
    from kerastricks.distribute import shard_batches

    return shard_batches(train_ds)  # this process's share of each global batch ([train] distribute)


def build_components(recipe: Recipe, ctx: TrainContext, techniques: list, *, jit: bool = False,
                     first_epoch: int = 0) -> Components:
    """Data, compiled model, optimizer and loss of a recipe, techniques applied phase by phase.

    Fills ``ctx.dataset`` and ``ctx.steps_per_epoch`` (computed here, once).
    """
    ctx.techniques = list(techniques)
    # data phase
    dataset = load_recipe_dataset(recipe)
    recipe.check_task(dataset.task)
    for technique in techniques:
        dataset = technique.apply_to_data(dataset, ctx)
    ctx.dataset = dataset
    n_train = len(dataset.x_train)
    # One epoch trains on n_train examples (ceil(n_train / batch_size) steps) whatever the
    # techniques do; a technique that echoes data reads fewer fresh examples per epoch and
    # says so in ctx.fresh_fraction. Keras runs whole executions of steps_per_execution steps,
    # so an epoch is rounded up to a multiple of it (what fit would run anyway, reading the
    # missing batches from the next epoch).
    from kerastricks.runtime import resolve_steps_per_execution

    execution, _ = resolve_steps_per_execution(recipe.train.steps_per_execution)
    ctx.steps_per_epoch = math.ceil(math.ceil(n_train / ctx.batch_size) / execution) * execution
    stages: dict[str, list] = {}
    for technique in techniques:
        for stage, fn in technique.pipeline_stages(ctx).items():
            stages.setdefault(stage, []).append(fn)
    train_ds = make_train_dataset(recipe, ctx, dataset, stages, first_epoch)
    val_ds = None
    if dataset.x_val is not None and len(dataset.x_val):
        from kerastricks.data import make_tf_dataset

        val_ds = make_tf_dataset(dataset.x_val, dataset.y_val, batch_size=max(ctx.batch_size, 256),
                                 shuffle=False, seed=ctx.seed)
        from kerastricks.distribute.engine import shard_eval_batches

        val_ds = shard_eval_batches(val_ds)

    # model phase
    from kerastricks.models import build_model

    if recipe.model.get("init_from"):  # a trained model's layers and a new head (kerastricks.transfer)
        from kerastricks.transfer.workflow import build_pretrained_model

        model, ctx.transfer = build_pretrained_model(recipe, dataset)
    else:
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
    from kerastricks.distribute import active

    base_lr = float(base_lr) * (active().lr_scale if active() is not None else 1.0)  # [train] lr_scaling
    schedule, schedule_callbacks = build_schedule(
        recipe.schedule["name"], recipe.options("schedule"), learning_rate=float(base_lr),
        steps_per_epoch=ctx.steps_per_epoch, epochs=ctx.epochs, file=recipe.source, with_callbacks=True,
        validated=True)
    for technique in techniques:
        opt_opts = technique.optimizer_options(opt_opts, ctx)
    optimizer = build_optimizer(recipe.optimizer["name"], opt_opts, learning_rate=schedule, file=recipe.source,
                                validated=True)
    for technique in techniques:
        optimizer = technique.apply_to_optimizer(optimizer, ctx)
    if ctx.transfer is not None and ctx.transfer.settings:  # [transfer] phases: one optimizer per layer group
        from kerastricks.transfer.workflow import transfer_report

        optimizer, schedule = ctx.transfer.optimizer(model, optimizer, recipe, float(base_lr), ctx.steps_per_epoch)
        schedule_callbacks = [*schedule_callbacks, ctx.transfer.callback()]
        ctx.epoch_columns.append(ctx.transfer.columns)
        ctx.notes["transfer"] = transfer_report(ctx.transfer, ctx.steps_per_epoch)

    # loss phase
    from kerastricks.losses import build_loss

    counts = None
    if dataset.task == "classification":
        from kerastricks.data.long_tail import class_counts

        counts = class_counts(dataset.y_train, dataset.num_classes)
    loss = build_loss(recipe.loss["name"], recipe.options("loss"), task=dataset.task, file=recipe.source,
                      class_counts=counts, validated=True)
    for technique in techniques:
        loss = technique.apply_to_loss(loss, ctx)
    metrics = ["accuracy"] if dataset.task == "classification" else ["mae"]
    model.compile(optimizer=optimizer, loss=loss, metrics=metrics, jit_compile=jit,
                  steps_per_execution=execution)
    return Components(dataset=dataset, train_ds=train_ds, val_ds=val_ds, model=model, optimizer=optimizer,
                      schedule=schedule, schedule_callbacks=schedule_callbacks, batch_size=ctx.batch_size,
                      n_train=n_train, epochs=ctx.epochs, stages=stages)
