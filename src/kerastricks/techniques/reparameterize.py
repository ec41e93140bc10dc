"""Structural re-parameterization after training: the deploy model, checked and saved."""

from __future__ import annotations

from typing import Any

import numpy as np

from kerastricks._lazy import keras
from kerastricks.techniques.base import Technique, TrainContext, register_technique
from kerastricks.validation import PositiveFloat, PositiveInt

DEPLOY_FILE = "model_deploy.keras"


def _count(model: keras.Model, classes: tuple[type, ...]) -> int:
    return sum(isinstance(layer, classes) for layer in model.layers)


@register_technique(
    "reparameterize",
    description="After training, fuse ACNet/RepVGG blocks, WS kernels and conv->BN pairs into plain convs; "
    "save model_deploy.keras.",
)
class Reparameterize(Technique):
    """Produce the deploy form of the trained model with :func:`kerastricks.layers.reparameterize`.

    After training (``after_fit``), the model is re-parameterized: every
    ``ACBlock``/``RepVGGBlock`` becomes one convolution, every weight-standardized
    conv a plain conv with its standardized kernel, every conv -> BN pair one conv
    with a bias. The deploy model is compared with the trained model in
    inference mode on up to ``check_examples`` test inputs; the maximum absolute
    and relative differences (relative to the largest output magnitude) go into
    ``report.json`` under ``techniques.reparameterize``, together with both
    parameter counts and what was fused. With a run directory the deploy model is
    saved as ``model_deploy.keras`` next to ``model.keras`` (public Keras layers
    only: it loads without kerastricks).

    Args:
        check_examples: Test examples used for the comparison, >= 1. Default 256.
        tolerance: Largest relative difference accepted as a match (reported as
            ``matches``; float32 fusion is exact to ~1e-6, mixed precision to
            ~1e-2). Default 1e-4.

    Reference:
        Ding et al., 2019, "ACNet", arXiv 1908.03930; Ding et al., 2021,
        "RepVGG", arXiv 2101.03697.
    """

    def __init__(self, check_examples: PositiveInt = 256, tolerance: PositiveFloat = 1e-4) -> None:
        self.check_examples = check_examples
        self.tolerance = tolerance

    def after_fit(self, model: Any, ctx: TrainContext) -> None:
        from kerastricks.layers import (
            ExtendedBatchNormalization,
            MultiBranchConv,
            WSConv1D,
            WSConv2D,
            reparameterize,
        )

        deploy = reparameterize(model)
        norms = (keras.layers.BatchNormalization, ExtendedBatchNormalization)
        notes: dict[str, Any] = {
            "params": int(model.count_params()),
            "deploy_params": int(deploy.count_params()),
            "blocks_fused": _count(model, (MultiBranchConv,)),
            "ws_convs_converted": _count(model, (WSConv1D, WSConv2D)),
            "norms_folded": _count(model, norms) - _count(deploy, norms),
        }
        x = None
        if ctx.dataset is not None and getattr(ctx.dataset, "x_test", None) is not None:
            x = ctx.dataset.x_test[: self.check_examples]
        if x is not None and len(x):
            want = np.asarray(model.predict(x, batch_size=256, verbose=0), dtype="float64")
            got = np.asarray(deploy.predict(x, batch_size=256, verbose=0), dtype="float64")
            diff = float(np.max(np.abs(want - got)))
            rel = diff / max(float(np.max(np.abs(want))), 1e-12)
            notes.update({"checked_examples": len(x), "max_abs_diff": diff, "max_rel_diff": rel,
                          "matches": bool(rel <= self.tolerance)})
        ctx.artifacts[DEPLOY_FILE] = deploy  # the trainer writes it
        if ctx.run_dir is not None:
            notes["deploy_model"] = DEPLOY_FILE
        ctx.notes[self.name] = notes
