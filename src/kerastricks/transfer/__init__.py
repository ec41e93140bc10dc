"""Transfer learning and fine-tuning: reuse a trained model, freeze, unfreeze, discriminative rates.

Plain Keras (:mod:`kerastricks.transfer.core`): :func:`reuse`, :func:`freeze`, :func:`layer_groups`,
:func:`discriminative`, :class:`TransferLearningRate`. Recipes: ``[model] init_from`` / ``reuse`` /
``weights_file`` and ``[transfer]`` (:mod:`kerastricks.transfer.settings`), run by the trainer as one run
(:mod:`kerastricks.transfer.workflow`). See ``docs/techniques/transfer_learning.md``.

Importing this package imports no Keras; the functions load :mod:`~kerastricks.transfer.core` on use.
"""

from __future__ import annotations

import importlib

_CORE = ("TransferLearningRate", "discriminative", "freeze", "group_learning_rates", "group_multipliers",
         "layer_groups", "multi_optimizer", "reuse", "task_head")

__all__ = list(_CORE)


def __getattr__(name: str):
    if name in _CORE:
        value = getattr(importlib.import_module("kerastricks.transfer.core"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'kerastricks.transfer' has no attribute {name!r}")
