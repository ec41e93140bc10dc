"""Data-parallel training from a recipe: several devices, several processes, several machines.

``[train] distribute`` picks the engine, ``[train] devices`` how many devices each process uses:

- ``"mirrored"``: TensorFlow's ``tf.distribute.MirroredStrategy`` on one host (GPUs, or logical CPU devices
  made before TensorFlow starts);
- ``"data_parallel"``: ``keras.distribution.DataParallel`` on JAX, on one host or across processes
  (``kerastricks train --workers N`` on one box; ``--coordinator/--num-processes/--process-id`` or the
  ``KERAS_DISTRIBUTION_*`` variables across machines).

``batch_size`` stays the global batch: every replica trains on ``batch_size / replicas`` examples of each
batch and the gradients are all-reduced, so a run matches the one-device run at the same global batch (up to
float rounding). What is refused, and why, is in :mod:`kerastricks.distribute.config`; the process set-up in
:mod:`kerastricks.distribute.engine`; the local launcher and its fault handling in
:mod:`kerastricks.distribute.launcher`. See ``docs/distributed.md``.
"""

from __future__ import annotations

from kerastricks.distribute.config import (
    ENGINES,
    MODES,
    ProcessGroup,
    check_processes,
    check_recipe,
    effective_backend,
    lr_scale_factor,
)
from kerastricks.distribute.engine import Distribution, active, setup, shard_batches

__all__ = ["ENGINES", "MODES", "Distribution", "ProcessGroup", "active", "check_processes", "check_recipe",
           "effective_backend", "lr_scale_factor", "setup", "shard_batches"]
