"""Class-aware re-sampling of the training pipeline (Kang et al. 2019)."""

from __future__ import annotations

from typing import Any, Literal

from kerastricks.errors import ConfigError
from kerastricks.techniques.base import Technique, TrainContext, register_technique


@register_technique(
    "resampling",
    description="Draw training batches by class: class-balanced, square-root or progressive sampling.",
)
class Resampling(Technique):
    """Replace the shuffled training pipeline by class-aware sampling.

    Each epoch draws as many examples as the training set holds (steps per
    epoch do not change), with replacement, a class ``c`` with probability
    ``n_c^q / sum_k n_k^q`` and then an example of it uniformly (see
    :class:`kerastricks.data.ClassResampler`). The draw of an epoch depends on
    ``train.seed`` and the epoch only, so resumed runs see the same batches.

    The technique builds a new pipeline from the training arrays: pipeline
    changes made by techniques listed *before* it in the recipe are replaced,
    so list it first among pipeline techniques.

    Args:
        mode: ``"class"`` (q = 0, every class equally likely; default),
            ``"sqrt"`` (q = 1/2), ``"progressive"`` (instance-balanced at the
            first epoch to class-balanced at the last, linearly) or
            ``"instance"`` (q = 1, the usual sampling, drawn with replacement).
    """

    def __init__(self, mode: Literal["class", "sqrt", "progressive", "instance"] = "class") -> None:
        self.mode = mode
        self._sampler: Any = None

    def apply_to_pipeline(self, ds, ctx: TrainContext):
        data = ctx.dataset
        if data is None or data.task != "classification":
            raise ConfigError("resampling needs a classification dataset", file=ctx.file,
                              key="techniques.resampling", expected="classification data",
                              received="no dataset" if data is None else data.task)
        try:
            from kerastricks.data.resampling import ClassResampler

            self._sampler = ClassResampler(data.y_train, mode=self.mode, epochs=ctx.epochs, seed=ctx.seed,
                                           num_classes=data.num_classes)
        except ConfigError as exc:
            raise ConfigError(f"cannot re-sample the training data ({exc.line()})", file=ctx.file,
                              key="techniques.resampling") from None
        ctx.notes[self.name] = {"class_counts": self._sampler.counts.tolist()}
        return self._sampler.dataset(data.x_train, data.y_train, batch_size=ctx.batch_size)

    def callbacks(self, ctx: TrainContext):
        return [] if self._sampler is None else [self._sampler]
