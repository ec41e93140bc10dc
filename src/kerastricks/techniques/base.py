"""The technique base class, its phase hooks and the technique registry.

A technique is a thin adapter that wires one component into a training run.
The trainer calls the hooks of every enabled technique phase by phase, in this
order, and within a phase in the order the techniques appear in the recipe:

1. ``check(recipe)``                      -- at validation, before anything heavy
2. ``apply_to_data(dataset, ctx)``        -- numpy arrays (``kerastricks.data.Dataset``)
2b. ``pipeline_stages(ctx)``              -- ``{stage: ds -> ds}`` inserted INSIDE the training
                                             pipeline (stages: ``kerastricks.data.PIPELINE_STAGES``)
3. ``apply_to_pipeline(ds, ctx)``         -- the built training ``tf.data.Dataset``
4. ``model_options(options, ctx)``        -- model builder options, before the build
5. ``apply_to_model(model, ctx)``         -- the built ``keras.Model``
6. ``optimizer_options(options, ctx)``    -- optimizer options, before the build
7. ``apply_to_optimizer(optimizer, ctx)`` -- the built optimizer
8. ``apply_to_loss(loss, ctx)``           -- the built loss
9. ``callbacks(ctx)``                     -- extra ``keras.callbacks.Callback`` objects
10. ``after_fit(model, ctx)``             -- after training, before the final evaluation

Each hook receives what its phase owns and returns it; a technique never
reaches around the phases. Defaults do nothing, so a technique overrides only
the hooks it needs. Options are the ``__init__`` keyword arguments, which are
also the schema recipes are validated against.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from kerastricks.registry import Registry

PHASES = (
    "check",
    "apply_to_data",
    "pipeline_stages",
    "apply_to_pipeline",
    "model_options",
    "apply_to_model",
    "optimizer_options",
    "apply_to_optimizer",
    "apply_to_loss",
    "callbacks",
    "after_fit",
)


@dataclass
class TrainContext:
    """What a technique may read about the run it is applied to, and what it hands back.

    Filled once by the trainer (:func:`kerastricks.build.build_components`);
    techniques never recompute these values.

    Attributes:
        recipe: The validated recipe (``kerastricks.recipes.Recipe``).
        file: The recipe's path, for error messages.
        seed: ``train.seed``.
        batch_size: ``train.batch_size`` (the global batch).
        epochs: ``train.epochs``.
        steps_per_epoch: Optimizer steps per epoch, ``ceil(n_train / batch_size)``
            (known after the data phase).
        dataset: The loaded dataset (after the data phase), if any.
        run_dir: The run directory, if the run writes one.
        notes: Per-technique entries that go into ``report.json`` under ``techniques``.
        fresh_fraction: The share of the examples trained on that are fresh
            (distinct reads from upstream of the training pipeline); a technique
            that repeats examples (data echoing by a factor ``e``) sets it to
            ``1/e``. The report counts fresh examples with it.
        eval_swap: A callback whose ``on_test_begin``/``on_test_end`` put the
            evaluated weights in place (EMA sets it); the best-model keeper uses it.
        artifacts: ``file name -> keras.Model`` that a technique produced in
            ``after_fit`` (re-parameterization's deploy model); the trainer
            writes each into the run directory.
        techniques: The run's technique instances, in recipe order.
        transfer: The phases of a model built from ``[model] init_from``
            (:class:`kerastricks.transfer.workflow.TransferPlan`), else ``None``.
        epoch_columns: Functions ``epoch -> {column: value}`` whose values the trainer adds to each
            row of ``metrics.csv`` (the transfer phase).
    """

    recipe: Any = None
    file: str | None = None
    seed: int = 0
    batch_size: int = 0
    epochs: int = 0
    steps_per_epoch: int = 0
    dataset: Any = None
    run_dir: Path | None = None
    notes: dict[str, dict[str, Any]] = field(default_factory=dict)
    fresh_fraction: float = 1.0
    eval_swap: Any = None
    artifacts: dict[str, Any] = field(default_factory=dict)
    techniques: list[Any] = field(default_factory=list)
    transfer: Any = None
    epoch_columns: list[Any] = field(default_factory=list)

    @classmethod
    def for_recipe(cls, recipe: Any, run_dir: Path | None = None) -> TrainContext:
        train = recipe.train
        return cls(recipe=recipe, file=recipe.source, seed=int(train.seed), batch_size=int(train.batch_size),
                   epochs=int(train.epochs), run_dir=run_dir)


class Technique:
    """Base class of every technique. Subclass it and register it with
    :func:`register_technique`.

    Class attributes:
        name: Registry name (set by ``register_technique``).
        description: One line shown by ``kerastricks list techniques``.
    """

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def get_config(self) -> dict[str, Any]:
        """The options this technique was built with (its ``__init__`` arguments)."""
        sig = inspect.signature(type(self).__init__)
        return {k: getattr(self, k) for k in sig.parameters if k != "self" and hasattr(self, k)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Technique:
        return cls(**config)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"

    # ---- phase hooks (defaults: pass through) ---------------------------------
    def check(self, recipe: Any) -> None:
        """Raise ``ConfigError`` if the recipe cannot work with this technique."""

    def apply_to_data(self, dataset: Any, ctx: TrainContext) -> Any:
        return dataset

    def pipeline_stages(self, ctx: TrainContext) -> dict[str, Any]:
        """Functions ``ds -> ds`` to run at named points inside the training pipeline.

        Keys are ``kerastricks.data.PIPELINE_STAGES`` (``"source"``,
        ``"before_augmentation"``, ``"after_augmentation"``, ``"after_batch"``);
        use this hook for work that must sit between the pipeline's own
        stages (e.g. before batching), ``apply_to_pipeline`` for the finished one.
        """
        return {}

    def apply_to_pipeline(self, ds: Any, ctx: TrainContext) -> Any:
        return ds

    def model_options(self, options: dict[str, Any], ctx: TrainContext) -> dict[str, Any]:
        return options

    def apply_to_model(self, model: Any, ctx: TrainContext) -> Any:
        return model

    def optimizer_options(self, options: dict[str, Any], ctx: TrainContext) -> dict[str, Any]:
        return options

    def apply_to_optimizer(self, optimizer: Any, ctx: TrainContext) -> Any:
        return optimizer

    def apply_to_loss(self, loss: Any, ctx: TrainContext) -> Any:
        return loss

    def callbacks(self, ctx: TrainContext) -> list[Any]:
        return []

    def after_fit(self, model: Any, ctx: TrainContext) -> None:
        return None


TECHNIQUES: Registry[type[Technique]] = Registry("technique")


def register_technique(name: str, *, description: str, **meta: Any):
    """Class decorator: register a :class:`Technique` subclass under ``name``."""

    def wrap(cls: type[Technique]) -> type[Technique]:
        if not (inspect.isclass(cls) and issubclass(cls, Technique)):
            raise TypeError(f"{cls!r} is not a Technique subclass")
        cls.name = name
        cls.description = description
        from kerastricks.validation import defaults_of

        TECHNIQUES.register(name, cls, description=description, defaults=defaults_of(cls), **meta)
        return cls

    return wrap
