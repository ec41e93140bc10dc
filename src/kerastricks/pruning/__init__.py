"""Magnitude pruning (``kt.pruning``): the Zhu & Gupta schedule, masks kept in the model, stripping for export.

- :func:`polynomial_sparsity`, :func:`pruning_due`, :func:`magnitude_mask`, :func:`n_m_mask` (N:M structured,
  e.g. 2:4) -- the schedule and the masks, as plain functions of ``keras.ops``.
- :class:`PruneLowMagnitude` -- the wrapper that keeps a layer's mask and applies it after every optimizer step.
- :func:`prune_model`, :func:`strip_pruning`, :func:`link_pruning`, :func:`prune_weights` (one shot),
  :func:`select_layers`, :func:`default_layers`, :func:`sparsity_summary` -- whole models.

The ``prune`` technique (:mod:`kerastricks.techniques.prune`) wires it into a recipe; ``kerastricks compress``
strips and exports the result. See ``docs/techniques/pruning.md``.
"""

from kerastricks.pruning.layers import PRUNABLE_TYPES, PruneLowMagnitude, is_prunable
from kerastricks.pruning.model import (
    default_layers,
    link_pruning,
    prune_model,
    prune_weights,
    select_layers,
    sparsity_summary,
    strip_pruning,
)
from kerastricks.pruning.schedule import magnitude_mask, n_m_mask, parse_structure, polynomial_sparsity, pruning_due

__all__ = [
    "PRUNABLE_TYPES",
    "PruneLowMagnitude",
    "default_layers",
    "is_prunable",
    "link_pruning",
    "magnitude_mask",
    "n_m_mask",
    "parse_structure",
    "polynomial_sparsity",
    "prune_model",
    "prune_weights",
    "pruning_due",
    "select_layers",
    "sparsity_summary",
    "strip_pruning",
]
