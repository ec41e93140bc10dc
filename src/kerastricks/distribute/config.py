"""What each distribution mode accepts, checked at validation (no Keras, no backend import).

Refusals are one line (exit 2 on the command line) that say which backend or mode can do what was asked.
The facts behind them were measured with Keras 3.15.1 (see ``docs/distributed.md``):

- torch: ``keras.distribution`` on torch is silently single-device, and ``fit`` has no data-parallel path;
- TensorFlow across processes: ``MultiWorkerMirroredStrategy`` fails in ``fit`` (keras-team/keras#20585;
  ``tests/distribute/test_canary.py`` notices when that changes);
- Keras's own gradient clipping (``clipnorm``, ``clipvalue``, ``global_clipnorm``) under ``MirroredStrategy``
  clips each replica's share of the gradient before the all-reduce, which is not the one-device update
  (AGC all-reduces first, see :mod:`kerastricks.optimizers.agc`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kerastricks.errors import ConfigError

MODES = ("none", "mirrored", "data_parallel")
"""Values of ``[train] distribute``."""

ENGINES = {"mirrored": "tensorflow", "data_parallel": "jax"}
"""The backend each distribution mode runs on."""

LR_SCALINGS = ("none", "linear", "sqrt")
"""Values of ``[train] lr_scaling``."""

#: Environment variables of a process group, the names ``keras.distribution.initialize`` reads.
ENV_COORDINATOR = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_NUM_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"

#: (technique, mode) -> why it is refused. Every other pair trains as on one device
#: (``docs/distributed.md`` has the table and the runs behind it).
_UNVERIFIED = "not yet verified against the one-device run under a distribution"
_PREDICTS = "its after-training step predicts with the model, which across processes needs a gathered output"
REFUSED: dict[tuple[str, str], str] = {
    ("clip", "mirrored"): "Keras clips each replica's gradient before MirroredStrategy's all-reduce, "
                          "which is not the one-device update",
    ("drw", "mirrored"): _UNVERIFIED, ("drw", "data_parallel"): _UNVERIFIED,
    ("recompute", "mirrored"): _UNVERIFIED, ("recompute", "data_parallel"): _UNVERIFIED,
    ("reparameterize", "mirrored"): _UNVERIFIED, ("reparameterize", "data_parallel"): _PREDICTS,
    ("crt", "mirrored"): _UNVERIFIED, ("crt", "data_parallel"): _PREDICTS,
    ("tau_norm", "mirrored"): _UNVERIFIED, ("tau_norm", "data_parallel"): _UNVERIFIED,
    ("gradient_accumulation", "mirrored"): "Keras's gradient accumulation applies the update inside a cond, and "
                                           "MirroredStrategy cannot all-reduce there (merge_call in a cond)",
    ("prune", "mirrored"): _UNVERIFIED, ("prune", "data_parallel"): _UNVERIFIED,
    ("snapshot_ensemble", "mirrored"): _UNVERIFIED, ("snapshot_ensemble", "data_parallel"): _UNVERIFIED,
    ("swa", "mirrored"): _UNVERIFIED, ("swa", "data_parallel"): _UNVERIFIED,
}

#: Techniques checked against the one-device run, per mode (docs/distributed.md, "Techniques under each mode");
#: every registered technique is here or in :data:`REFUSED` for each mode (tests check it).
VERIFIED = {
    "mirrored": ("agc", "clip", "data_echoing", "early_stopping", "ema", "l2", "label_smoothing", "resampling"),
    "data_parallel": ("agc", "clip", "data_echoing", "early_stopping", "ema", "gradient_accumulation", "l2",
                      "label_smoothing", "resampling"),
}

#: Model choices whose batch statistics MirroredStrategy keeps per replica (Keras's BatchNormalization is
#: unsynchronized by default), so the run would not be the one-device run. ``norm = "extended"`` synchronizes.
MIRRORED_UNSYNCED = {"norm": ("batch",), "conv": ("acb", "repvgg")}


def effective_backend(train: Any) -> str:
    """The backend a run will use: ``[train] backend``, else ``KERAS_BACKEND``, else TensorFlow."""
    return getattr(train, "backend", None) or os.environ.get("KERAS_BACKEND") or "tensorflow"


def lr_scale_factor(mode: str, scaling: str, replicas: int) -> float:
    """Learning-rate multiplier for ``replicas`` replicas: 1, ``replicas`` (linear) or ``sqrt(replicas)``.

    Goyal et al. 2017 ("Accurate, Large Minibatch SGD", arXiv:1706.02677) scale the rate linearly with the
    number of workers, each keeping its per-worker batch, and warm it up gradually over the first epochs
    (``[schedule] warmup_epochs``); the square-root rule (Krizhevsky 2014, arXiv:1404.5997) is the milder
    choice for adaptive optimizers.
    """
    if mode == "none" or scaling == "none":
        return 1.0
    return float(replicas) if scaling == "linear" else math.sqrt(replicas)


def check_recipe(recipe: Any) -> None:
    """Refuse, at validation, what a recipe's distribution mode cannot honour (one line each)."""
    train = recipe.train
    file = recipe.source
    mode = getattr(train, "distribute", "none")
    devices = getattr(train, "devices", "all")
    if mode == "none":
        if devices not in ("all", 1):
            raise ConfigError("several devices need a distribution mode", file=file, key="train.devices",
                              expected="1 or 'all' with train.distribute = 'none', or train.distribute = "
                                       "'mirrored' (TensorFlow) / 'data_parallel' (JAX)", received=devices)
        if getattr(train, "lr_scaling", "none") != "none":
            raise ConfigError("learning-rate scaling follows the number of replicas", file=file,
                              key="train.lr_scaling", expected="'none' with train.distribute = 'none'",
                              received=train.lr_scaling)
        return
    backend = effective_backend(train)
    engine = ENGINES[mode]
    if backend == "torch":
        raise ConfigError("Keras 3.15 has no data-parallel path through fit on torch", file=file,
                          key="train.distribute",
                          expected="train.backend = 'tensorflow' with 'mirrored', or 'jax' with 'data_parallel'",
                          received=f"'{mode}' on backend 'torch'")
    if backend != engine:
        other = "data_parallel" if mode == "mirrored" else "mirrored"
        raise ConfigError(f"'{mode}' runs on backend '{engine}'", file=file, key="train.distribute",
                          expected=f"train.backend = '{engine}', or '{other}' on backend '{backend}'",
                          received=f"'{mode}' on backend '{backend}'")
    if isinstance(devices, int) and int(train.batch_size) % devices:
        raise ConfigError("every device trains on an equal share of the global batch", file=file,
                          key="train.batch_size", expected=f"a multiple of train.devices ({devices})",
                          received=train.batch_size)
    if mode == "mirrored":
        for key, values in MIRRORED_UNSYNCED.items():
            if recipe.model.get(key) in values:
                raise ConfigError("MirroredStrategy keeps BatchNormalization statistics per replica (not the "
                                  "one-device run)", file=file, key=f"model.{key}",
                                  expected="model.norm = 'extended' (synchronized) or 'none', or "
                                           "train.distribute = 'data_parallel' on backend 'jax'",
                                  received=recipe.model[key])
    for name in recipe.techniques:
        reason = REFUSED.get((name, mode))
        if name == "clip" and recipe.techniques[name].get("mode") == "agc":
            reason = None  # AGC all-reduces the gradient before clipping
        if reason is not None:
            ok = ENGINES["data_parallel"] if mode == "mirrored" else ENGINES["mirrored"]
            raise ConfigError(f"technique '{name}' is not supported under '{mode}': {reason}", file=file,
                              key=f"techniques.{name}",
                              expected=f"train.distribute = 'none', or 'data_parallel' on backend '{ok}'"
                              if mode == "mirrored" else "train.distribute = 'none'", received=mode)


@dataclass(frozen=True)
class ProcessGroup:
    """The processes of one run: the coordinator's ``HOST:PORT``, how many, and which one this is."""

    coordinator: str | None = None
    num_processes: int = 1
    process_id: int = 0

    @property
    def multi(self) -> bool:
        return self.num_processes > 1

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProcessGroup:
        """The group the ``KERAS_DISTRIBUTION_*`` variables describe (one process when they are unset)."""
        env = os.environ if environ is None else environ
        raw_n, raw_id = env.get(ENV_NUM_PROCESSES), env.get(ENV_PROCESS_ID)
        coordinator = env.get(ENV_COORDINATOR) or None
        if coordinator and "," in coordinator:  # Keras accepts every job's address; the first coordinates
            coordinator = coordinator.split(",")[0]
        if raw_n is None and raw_id is None and coordinator is None:
            return cls()
        n = _int_env(raw_n, ENV_NUM_PROCESSES, ">= 1", minimum=1)
        pid = _int_env(raw_id, ENV_PROCESS_ID, f"0 <= id < {n}", minimum=0)
        return check_group(cls(coordinator, n, pid), key=ENV_PROCESS_ID)

    def check(self, recipe: Any) -> None:
        """Refuse this many processes for a recipe whose mode cannot run across processes."""
        check_processes(recipe, self.num_processes, key="--num-processes")

    def env(self) -> dict[str, str]:
        """The ``KERAS_DISTRIBUTION_*`` variables that describe this group."""
        return {ENV_COORDINATOR: self.coordinator or "", ENV_NUM_PROCESSES: str(self.num_processes),
                ENV_PROCESS_ID: str(self.process_id)}


def _int_env(raw: str | None, key: str, expected: str, minimum: int) -> int:
    try:
        value = int(raw) if raw is not None else None
    except ValueError:
        value = None
    if value is None or value < minimum:
        raise ConfigError("bad process-group variable", key=key, expected=f"an integer {expected}", received=raw)
    return value


def check_group(group: ProcessGroup, *, key: str = "--process-id") -> ProcessGroup:
    """Refuse a process group that cannot start (one line)."""
    if not 0 <= group.process_id < group.num_processes:
        raise ConfigError("process id out of range", key=key,
                          expected=f"0 <= id < {group.num_processes} (the number of processes)",
                          received=group.process_id)
    if group.multi:
        host, _, port = (group.coordinator or "").rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConfigError("several processes need a coordinator", key="--coordinator",
                              expected="HOST:PORT reachable from every process (e.g. 10.0.0.1:1234)",
                              received=group.coordinator)
    return group


def check_processes(recipe: Any, num_processes: int, *, key: str = "--workers") -> None:
    """Refuse several processes for a recipe whose mode cannot run across processes (one line)."""
    if num_processes <= 1:
        return
    mode = recipe.train.distribute
    if mode == "mirrored":
        raise ConfigError("TensorFlow across processes (MultiWorkerMirroredStrategy) fails in Keras 3.15 "
                          "(keras-team/keras#20585)", file=recipe.source, key=key,
                          expected="train.distribute = 'data_parallel' with train.backend = 'jax' "
                                   "for several processes", received=f"{num_processes} processes with 'mirrored'")
    if mode != "data_parallel":
        raise ConfigError("several processes train one model only with a distribution mode", file=recipe.source,
                          key=key, expected="train.distribute = 'data_parallel' (backend 'jax')",
                          received=f"{num_processes} processes with train.distribute = '{mode}'")
    devices = recipe.train.devices
    if isinstance(devices, int) and int(recipe.train.batch_size) % (devices * num_processes):
        raise ConfigError("every device trains on an equal share of the global batch", file=recipe.source,
                          key="train.batch_size",
                          expected=f"a multiple of devices x processes ({devices} x {num_processes})",
                          received=recipe.train.batch_size)
