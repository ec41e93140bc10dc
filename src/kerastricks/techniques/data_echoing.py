"""Data echoing: train on each upstream example ``factor`` times to unblock an input-bound run."""

from __future__ import annotations

from typing import Annotated, Literal, Optional

from pydantic import Field

from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique


@register_technique(
    "data_echoing",
    description="Repeat examples (or batches) `factor` times so slow input pipelines read fewer fresh examples.",
)
class DataEchoing(Technique):
    """Data echoing (Choi et al. 2019, arXiv 1907.05550) inside the training pipeline.

    Epoch semantics: an echoed epoch trains on as many examples (the same
    number of steps) as an ordinary one, but reads only
    ``ceil(n_train / factor)`` fresh examples from upstream: each epoch takes a
    new random subset of that size from the shuffled training set (stage
    ``source``) and repeats each element ``factor`` times. Learning-rate
    schedules, epochs and ``examples_to_target`` therefore count examples
    trained on; the report's ``examples_fresh`` and
    ``examples_fresh_to_target`` count upstream reads (``1/factor`` of them).

    Where the echo sits (:data:`kerastricks.data.PIPELINE_STAGES`):

    - ``level="example"``, ``placement="before_augmentation"``: repeats are
      augmented independently (more diverse; saves only the work upstream of
      augmentation);
    - ``level="example"``, ``placement="after_augmentation"``: identical
      copies, spread across batches by a shuffle buffer (saves the
      augmentation too);
    - ``level="batch"``: whole batches repeated after batching (cheapest;
      only ``placement="after_augmentation"`` makes sense).

    Args:
        factor: Expected copies per fresh element, > 1 (non-integer factors
            repeat probabilistically).
        level: ``"example"`` or ``"batch"``.
        placement: ``"before_augmentation"`` or ``"after_augmentation"``.
        shuffle_buffer: Shuffle buffer after example echoing (default 1024;
            0 keeps copies adjacent); for batches the default is 0.
    """

    def __init__(
        self,
        factor: Annotated[float, Field(gt=1)] = 2.0,
        level: Literal["example", "batch"] = "example",
        placement: Literal["before_augmentation", "after_augmentation"] = "after_augmentation",
        shuffle_buffer: Optional[Annotated[int, Field(ge=0)]] = None,
    ) -> None:
        self.factor = factor
        self.level = level
        self.placement = placement
        self.shuffle_buffer = shuffle_buffer

    def check(self, recipe) -> None:
        if self.level == "batch" and self.placement == "before_augmentation":
            raise ConfigError(
                "batches exist only after augmentation, so batch echoing cannot come before it",
                file=recipe.source, key="techniques.data_echoing.placement",
                expected="'after_augmentation' with level = 'batch' (or level = 'example')",
                received="before_augmentation",
            )

    def pipeline_stages(self, ctx: TrainContext) -> dict:
        from kerastricks.data.echo import echo, fresh_count

        n = len(ctx.dataset.x_train)
        fresh = fresh_count(n, self.factor)
        seed = ctx.seed
        ctx.fresh_fraction = fresh / n
        ctx.notes["data_echoing"] = {
            "fresh_per_epoch": fresh,
            "trained_per_epoch": n,
            "steps_per_epoch": ctx.steps_per_epoch,
        }

        def budget(ds):
            return ds.take(fresh)

        def repeat(ds, epoch: int = 0):  # new echo draws every epoch, a pure function of (seed, epoch)
            return echo(ds, self.factor, level=self.level, shuffle_buffer=self.shuffle_buffer,
                        seed=seed + 7 + 1_000_003 * epoch)

        stage = "after_batch" if self.level == "batch" else self.placement
        return {"source": budget, stage: repeat}
