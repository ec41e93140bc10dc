"""Process and device set-up of a distributed run, done once by :func:`kerastricks.runtime.prepare`.

It runs right after the backend is chosen and before anything starts the backend's runtime: TensorFlow's
logical CPU devices and JAX's CPU device count can only be set before then, and ``jax.distributed`` must
be initialized before the first JAX computation.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from typing import Any

from kerastricks.distribute.config import ProcessGroup, check_group, lr_scale_factor
from kerastricks.errors import ConfigError

#: Seconds without a heartbeat after which JAX's coordination service declares a process lost (JAX's own
#: default is 100 s; the survivors then abort with the coordination service's error).
HEARTBEAT_TIMEOUT_S = 10
#: Seconds every process waits for the others to join.
INITIALIZATION_TIMEOUT_S = 120


@dataclass
class Distribution:
    """A running distribution: what the trainer, the pipeline and the report need to know.

    Attributes:
        mode: ``"mirrored"`` or ``"data_parallel"``.
        backend: The backend it runs on.
        devices: Names of every device holding a replica (all processes).
        processes: Number of processes; ``process_id`` is this one's.
        global_batch: ``train.batch_size``.
        lr_scale: The learning-rate multiplier ``[train] lr_scaling`` asked for.
        strategy: The ``tf.distribute`` strategy (``mirrored``), else None.
    """

    mode: str
    backend: str
    devices: list[str]
    processes: int = 1
    process_id: int = 0
    global_batch: int = 0
    lr_scale: float = 1.0
    lr_scaling: str = "none"
    strategy: Any = field(default=None, repr=False)

    @property
    def replicas(self) -> int:
        return len(self.devices)

    @property
    def per_replica_batch(self) -> int:
        return self.global_batch // self.replicas

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory (process 0 only)."""
        return self.process_id == 0

    def scope(self) -> contextlib.AbstractContextManager:
        """Where models and optimizers are built: the strategy's scope (``mirrored``), else nothing to enter
        (``keras.distribution`` is global)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    def live_replicas(self, model: Any) -> int:
        """Replicas the built ``model`` actually trains on, read from the model, not from the recipe."""
        if self.mode == "mirrored":
            return int(model.distribute_strategy.num_replicas_in_sync)
        value = model.trainable_variables[0].value
        return len(value.sharding.device_set)

    def report(self, model: Any = None) -> dict[str, Any]:
        out = {"mode": self.mode, "replicas": self.replicas, "processes": self.processes,
               "per_replica_batch": self.per_replica_batch, "global_batch": self.global_batch,
               "devices": list(self.devices), "lr_scaling": self.lr_scaling, "lr_scale": self.lr_scale}
        if model is not None:
            out["live_replicas"] = self.live_replicas(model)
        return out


_ACTIVE: Distribution | None = None


def active() -> Distribution | None:
    """The distribution :func:`setup` started in this process, if any."""
    return _ACTIVE


def setup(train: Any, *, file: str | None = None, group: ProcessGroup | None = None) -> Distribution | None:
    """Start ``[train] distribute`` in this process (after the backend is chosen, before it runs anything).

    Returns None for ``distribute = "none"``. The process group comes from the ``KERAS_DISTRIBUTION_*``
    variables unless given.
    """
    global _ACTIVE
    mode = getattr(train, "distribute", "none")
    if mode == "none":
        if _ACTIVE is not None and _ACTIVE.mode == "data_parallel":
            import keras

            keras.distribution.set_distribution(None)
        _ACTIVE = None
        return None
    group = check_group(group or ProcessGroup.from_env(), key="KERAS_DISTRIBUTION_PROCESS_ID")
    devices = train.devices
    if mode == "mirrored":
        dist = _mirrored(devices, file)
    else:
        dist = _data_parallel(devices, group, file)
    dist.global_batch = int(train.batch_size)
    if dist.global_batch % dist.replicas:
        raise ConfigError("every replica trains on an equal share of the global batch", file=file,
                          key="train.batch_size", expected=f"a multiple of the {dist.replicas} replicas",
                          received=dist.global_batch)
    dist.lr_scaling = getattr(train, "lr_scaling", "none")
    dist.lr_scale = lr_scale_factor(mode, dist.lr_scaling, dist.replicas)
    _ACTIVE = dist
    if group.multi:
        from kerastricks.distribute.launcher import start_watchdog

        start_watchdog()
    return dist


def _mirrored(devices: Any, file: str | None) -> Distribution:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        n = len(gpus) if devices == "all" else int(devices)
        if n > len(gpus):
            raise ConfigError("not enough GPUs", file=file, key="train.devices",
                              expected=f"at most {len(gpus)} (GPUs TensorFlow sees)", received=devices)
        names = [f"/gpu:{i}" for i in range(n)]
    else:
        n = 1 if devices == "all" else int(devices)
        cpu = tf.config.list_physical_devices("CPU")[0]
        if n > 1:
            try:
                tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * n)
            except RuntimeError:  # TensorFlow already started in this process
                have = len(tf.config.list_logical_devices("CPU"))
                if have < n:
                    raise ConfigError(
                        f"TensorFlow already started in this process with {have} CPU device(s)", file=file,
                        key="train.devices", expected=f"a new process (kerastricks train), or {n} logical CPU "
                        "devices configured before TensorFlow starts", received=devices) from None
        names = [f"/cpu:{i}" for i in range(n)]
    strategy = tf.distribute.MirroredStrategy(names)
    return Distribution("mirrored", "tensorflow", names, strategy=strategy)


def _data_parallel(devices: Any, group: ProcessGroup, file: str | None) -> Distribution:
    import jax

    if isinstance(devices, int) and devices > 1 and not _has_gpu_plugin():
        with contextlib.suppress(RuntimeError):  # only before JAX's backends start; checked below
            jax.config.update("jax_num_cpu_devices", int(devices))
    if group.multi:
        with contextlib.suppress(RuntimeError):  # already set, or no CPU collectives in this jaxlib
            jax.config.update("jax_cpu_collectives_implementation", "gloo")
        if not jax.distributed.is_initialized():
            jax.distributed.initialize(group.coordinator, group.num_processes, group.process_id,
                                       initialization_timeout=INITIALIZATION_TIMEOUT_S,
                                       heartbeat_timeout_seconds=HEARTBEAT_TIMEOUT_S)
    local = jax.local_devices()
    n = len(local) if devices == "all" else int(devices)
    if n > len(local):
        raise ConfigError(f"JAX sees {len(local)} device(s) in this process", file=file, key="train.devices",
                          expected=f"at most {len(local)}, or a new process (on CPU kerastricks asks JAX for "
                                   "train.devices CPU devices before JAX starts)", received=devices)
    chosen = []
    for p in range(jax.process_count()):
        mine = sorted((d for d in jax.devices() if d.process_index == p), key=lambda d: d.id)
        chosen += mine[:n]
    import keras

    keras.distribution.set_distribution(keras.distribution.DataParallel(devices=chosen, auto_shard_dataset=False))
    return Distribution("data_parallel", "jax", [f"{d.platform}:{d.id}" for d in chosen],
                        processes=jax.process_count(), process_id=jax.process_index())


def _has_gpu_plugin() -> bool:
    import importlib.util

    return any(importlib.util.find_spec(m) is not None for m in ("jax_cuda12_plugin", "jax_cuda13_plugin",
                                                                 "jax_rocm60_plugin"))


def share_bounds(n: int, replicas: int, processes: int, process_id: int) -> tuple[int, int]:
    """Rows ``[lo, hi)`` of a global batch of ``n`` that process ``process_id`` trains on (see
    :func:`shard_batches`): ``n`` cut to a multiple of ``replicas``, then split into ``processes`` equal,
    contiguous slices."""
    per = (n - n % replicas) // processes
    return process_id * per, (process_id + 1) * per


def shard_batches(ds: Any) -> Any:
    """This process's share of every global batch of the training stream.

    Each global batch is cut to a multiple of the replica count (only an epoch's last, smaller batch can
    lose up to ``replicas - 1`` examples) and, across processes, split into contiguous equal slices:
    process ``p`` of ``P`` takes rows ``[p * n / P, (p + 1) * n / P)``. Every process builds the same global
    stream from the same seed, so each example is trained on once per epoch across the processes.
    Without a distribution the stream is returned unchanged.
    """
    dist = _ACTIVE
    if dist is None:
        return ds
    import tensorflow as tf

    replicas, processes, pid = dist.replicas, dist.processes, dist.process_id

    def share(*batch):  # share_bounds, in tensors
        n = tf.shape(tf.nest.flatten(batch)[0])[0]
        per = (n - n % replicas) // processes
        out = tf.nest.map_structure(lambda t: t[pid * per:(pid + 1) * per], batch)
        return out if len(batch) > 1 else out[0]

    return ds.map(share)


def shard_eval_batches(ds: Any) -> Any:
    """Validation batches: the same share as :func:`shard_batches`. JAX places equal slices on the devices,
    and Keras 3.15's ``fit`` under ``MirroredStrategy`` fails on a validation batch that does not split evenly
    (``AddN ... must have the same size``), so a batch is cut to a multiple of the replica count: the last
    validation batch may leave up to ``replicas - 1`` examples out of the validation metrics."""
    return shard_batches(ds)


def environment_summary() -> dict[str, str]:
    """The distribution variables set in this process (for error messages and the report)."""
    return {k: v for k, v in os.environ.items() if k.startswith("KERAS_DISTRIBUTION_")}


@contextlib.contextmanager
def local_variables():
    """Variables created inside are local to this process (``keras.distribution`` off), restored after.

    Saving a model builds a throw-away optimizer (Keras's attribute skip-set); under ``DataParallel`` across
    processes its variables would be placed on every process's devices, a collective that the processes which
    do not save never join. Process 0 saves inside this context instead.
    """
    if _ACTIVE is None or _ACTIVE.mode != "data_parallel":
        yield
        return
    import keras

    previous = keras.distribution.distribution()
    keras.distribution.set_distribution(None)
    try:
        yield
    finally:
        keras.distribution.set_distribution(previous)
