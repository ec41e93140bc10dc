"""Runtime preparation, shared by every command that builds a model.

:func:`prepare` applies a recipe's ``[train]`` runtime settings in one place, in
this order: backend (before Keras is imported), threads (before the backend
starts), seed, determinism, dtype policy (mixed precision), XLA. ``train``,
``lr-find``, ``memory``, ``evaluate`` and ``bench`` (through ``train``) all go
through it, so they cannot drift apart; :func:`prepared` also restores the
global dtype policy when the work is done.
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kerastricks._lazy import keras
from kerastricks.errors import ConfigError


def backend_name() -> str:
    """The Keras backend in use (or that will be used when Keras is imported)."""
    if "keras" in sys.modules:
        return keras.backend.backend()
    return os.environ.get("KERAS_BACKEND", "tensorflow")


def apply_backend(requested: str | None, *, file: str | None = None) -> str:
    """Select ``[train] backend`` before Keras is imported; refuse a switch after (one line, exit 2)."""
    if requested is None:
        return backend_name()
    if "keras" in sys.modules:
        current = keras.backend.backend()
        if current != requested:
            raise ConfigError(
                f"Keras is already running on {current} in this process", file=file, key="train.backend",
                expected=f"'{current}' here, or a new process (kerastricks train starts one per run)",
                received=requested)
        return current
    from kerastricks._backend import installed

    if not installed(requested):
        extra = "cpu" if requested == "tensorflow" else requested
        raise ConfigError("backend not installed", file=file, key="train.backend",
                          expected=f"an installed backend (pip install \"kerastricks[{extra}]\")", received=requested)
    os.environ["KERAS_BACKEND"] = requested
    return requested


def backend_version(name: str | None = None) -> str | None:
    """Version of the installed backend package ``name`` (default: the backend in use), None if absent."""
    from importlib import metadata

    name = name or backend_name()
    dists = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",), "torch": ("torch",)}.get(name, (name,))
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def versions() -> dict[str, str]:
    """Versions of Python, Keras, the backend(s) installed, NumPy and kerastricks."""
    from importlib import metadata

    from kerastricks import __version__

    out = {"python": platform.python_version(), "keras": keras.__version__, "backend": backend_name()}
    for dist, key in (("tensorflow", "tensorflow"), ("tensorflow-cpu", "tensorflow"), ("jax", "jax"),
                      ("torch", "torch")):
        if key in out:
            continue
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    out.update({"numpy": np.__version__, "kerastricks": __version__})
    return out


def gpu_available() -> bool:
    """Whether the backend in use sees a GPU."""
    name = backend_name()
    if name == "jax":
        import jax

        return any(d.platform == "gpu" for d in jax.devices())
    if name == "torch":
        import torch

        return bool(torch.cuda.is_available())
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def device_memory_peak() -> int | None:
    """Peak memory allocated on the first GPU so far, in bytes (None without a GPU)."""
    if not gpu_available():
        return None
    name = backend_name()
    if name == "torch":
        import torch

        return int(torch.cuda.max_memory_allocated(0))
    if name == "jax":
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        peak = stats.get("peak_bytes_in_use")
        return None if peak is None else int(peak)
    import tensorflow as tf

    try:
        return int(tf.config.experimental.get_memory_info("GPU:0")["peak"])
    except (ValueError, RuntimeError):  # pragma: no cover - depends on the device
        return None


def resolve_jit(value: Any) -> tuple[bool, str]:
    """The effective ``jit_compile`` and why."""
    if value == "auto":
        if backend_name() == "jax":
            return True, "auto: JAX compiles every step (un-jitted JAX is orders of magnitude slower)"
        if backend_name() == "torch":
            return False, "auto: torch runs eagerly (torch.compile gave no gain on these small models)"
        if gpu_available():
            return True, "auto: GPU present, XLA on"
        return False, ("auto: CPU only, XLA gave no speed-up on CPU in our measurements "
                       "(docs/techniques/mixed_precision.md)")
    return bool(value), "set in recipe"


def resolve_steps_per_execution(value: Any) -> tuple[int, str]:
    """The effective ``steps_per_execution`` on the backend in use and why.

    Keras's PyTorch trainer runs one batch per call (it raises for more), so
    the value is forced to 1 there and the report says so; TensorFlow and JAX
    honour it.
    """
    n = int(value)
    if n > 1 and backend_name() == "torch":
        return 1, f"torch: Keras's PyTorch trainer runs one batch per call ({n} requested)"
    return n, "set in recipe"


BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
"""``/proc/cpuinfo`` flags that make ``mixed_bfloat16`` fast on a CPU (oneDNN bf16 kernels)."""


def cpu_flags(path: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags the kernel reports (empty where there is no ``/proc/cpuinfo``)."""
    try:
        text = Path(path).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags") and ":" in line:
            return set(line.split(":", 1)[1].split())
    return set()


def gpu_compute_capability() -> tuple[int, int] | None:
    """Compute capability of the first GPU, e.g. ``(8, 0)``; None without one."""
    if backend_name() != "tensorflow":
        if not gpu_available():
            return None
        if backend_name() == "torch":
            import torch

            return tuple(torch.cuda.get_device_capability(0))
        return (8, 0)  # JAX does not report it; bf16 is the right default on current GPUs
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return None
    details = tf.config.experimental.get_device_details(gpus[0])
    cc = details.get("compute_capability")
    return None if cc is None else (int(cc[0]), int(cc[1]))


def resolve_precision(value: str, *, flags: set[str] | None = None,
                      capability: tuple[int, int] | None | str = "detect") -> tuple[str, str]:
    """The Keras dtype policy for ``[train] precision`` and why.

    ``"auto"`` picks, in order:

    - a GPU with compute capability >= 8.0 (Ampere and newer, bf16 tensor
      cores): ``mixed_bfloat16``;
    - an older GPU: ``mixed_float16`` (Keras wraps the optimizer in a
      ``LossScaleOptimizer`` when the model is compiled);
    - a CPU with AVX512-BF16 or AMX-BF16 (``/proc/cpuinfo`` flags
      :data:`BF16_CPU_FLAGS`): ``mixed_bfloat16``;
    - otherwise ``float32`` (bf16 without hardware support is emulated and slower).

    Args:
        value: ``"float32"``, ``"mixed_float16"``, ``"mixed_bfloat16"`` or ``"auto"``.
        flags: CPU flags to decide on (default: read ``/proc/cpuinfo``).
        capability: GPU compute capability to decide on, None for no GPU
            (default: ask TensorFlow).

    Returns:
        ``(policy name, reason)``.
    """
    if value != "auto":
        return value, "set in recipe"
    cc = gpu_compute_capability() if capability == "detect" else capability
    if cc is not None:
        if cc >= (8, 0):
            return "mixed_bfloat16", f"auto: GPU compute capability {cc[0]}.{cc[1]} >= 8.0 (bf16 tensor cores)"
        return "mixed_float16", f"auto: GPU compute capability {cc[0]}.{cc[1]} < 8.0 (fp16 with loss scaling)"
    flags = cpu_flags() if flags is None else flags
    found = sorted(f for f in BF16_CPU_FLAGS if f in flags)
    if found:
        return "mixed_bfloat16", f"auto: CPU has {', '.join(found)}"
    return "float32", "auto: no GPU and no CPU bf16 support (avx512_bf16/amx_bf16 absent)"


def optimizer_state_size(optimizer: keras.optimizers.Optimizer) -> dict[str, int]:
    """Scalars and bytes held by the optimizer's variables (iteration counter included)."""
    scalars = 0
    nbytes = 0
    for var in optimizer.variables:
        n = int(np.prod(var.shape)) if len(var.shape) else 1
        scalars += n
        nbytes += n * np.dtype(keras.backend.standardize_dtype(var.dtype)).itemsize
    return {"scalars": scalars, "bytes": nbytes}


def set_jax_threads(threads: Any) -> None:
    """Put ``[train] threads`` into ``XLA_FLAGS`` for JAX; effective only before JAX is imported.

    Commands call it right after choosing the backend; a flag the user already set wins.
    """
    if threads == "auto" or backend_name() != "jax" or "jax" in sys.modules:
        return
    n = int(threads)
    flags = os.environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" in flags:
        return
    extra = f"intra_op_parallelism_threads={n}"
    if n == 1:
        extra = "--xla_cpu_multi_thread_eigen=false " + extra
    os.environ["XLA_FLAGS"] = f"{flags} {extra}".strip()


def configure_threads(threads: Any) -> str:
    """Apply ``[train] threads``; returns what was done, for the report.

    TensorFlow accepts thread settings only before its runtime starts, so in a
    process that already ran TensorFlow ops the setting is reported as not
    applied instead of failing the run.
    """
    if threads == "auto":
        return "auto (backend default)"
    if backend_name() == "torch":
        import torch

        torch.set_num_threads(int(threads))
        return f"{int(threads)}"
    if backend_name() == "jax":
        n = int(threads)
        if "jax" not in sys.modules:
            set_jax_threads(n)
        if f"intra_op_parallelism_threads={n}" in os.environ.get("XLA_FLAGS", ""):
            return f"{n} (XLA_FLAGS intra_op_parallelism_threads, set before JAX started)"
        return f"not applied ({n} requested): JAX sizes its thread pool from XLA_FLAGS when it starts"
    import tensorflow as tf

    n = int(threads)
    try:
        tf.config.threading.set_intra_op_parallelism_threads(n)
        tf.config.threading.set_inter_op_parallelism_threads(n)
    except RuntimeError:
        current = tf.config.threading.get_intra_op_parallelism_threads()
        if current == n:
            return f"{n}"
        return f"not applied ({n} requested): TensorFlow was already running in this process"
    return f"{n}"


def enable_determinism() -> str:
    """Deterministic ops on the backend in use; returns what was done."""
    name = backend_name()
    if name == "tensorflow":
        import tensorflow as tf

        tf.config.experimental.enable_op_determinism()
        return "tensorflow op determinism"
    if name == "torch":
        import torch

        torch.use_deterministic_algorithms(True, warn_only=True)
        return "torch deterministic algorithms"
    return "jax (deterministic on CPU)"


@dataclass(frozen=True)
class RuntimeInfo:
    """What :func:`prepare` applied, for the report."""

    backend: str
    seed: int
    precision: str
    precision_reason: str
    jit: bool
    jit_reason: str
    threads: str
    deterministic: str | None
    backend_version: str | None = None
    steps_per_execution: int = 1
    steps_per_execution_reason: str = "set in recipe"

    def report(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "backend_version": self.backend_version,
            "precision_policy": self.precision,
            "precision": {"value": self.precision, "reason": self.precision_reason},
            "jit_compile": {"value": self.jit, "reason": self.jit_reason},
            "threads": self.threads,
            "deterministic": self.deterministic,
            "steps_per_execution": {"value": self.steps_per_execution, "reason": self.steps_per_execution_reason},
        }


def prepare(train: Any, *, file: str | None = None) -> RuntimeInfo:
    """Apply ``[train]``'s runtime settings (a :class:`~kerastricks.recipes.schema.TrainSettings`)."""
    backend = apply_backend(getattr(train, "backend", None), file=file)
    from kerastricks.distribute import setup as setup_distribution

    setup_distribution(train, file=file)  # devices and processes: before the backend's runtime starts
    threads = configure_threads(train.threads)
    seed = int(train.seed)
    keras.utils.set_random_seed(seed)
    deterministic = enable_determinism() if train.deterministic else None
    precision, precision_reason = resolve_precision(train.precision)
    keras.mixed_precision.set_global_policy(precision)
    jit, jit_reason = resolve_jit(train.jit_compile)
    execution, execution_reason = resolve_steps_per_execution(getattr(train, "steps_per_execution", 1))
    return RuntimeInfo(backend, seed, precision, precision_reason, jit, jit_reason, threads, deterministic,
                       backend_version(backend), execution, execution_reason)


@contextlib.contextmanager
def prepared(train: Any, *, file: str | None = None) -> Iterator[RuntimeInfo]:
    """:func:`prepare`, restoring the global dtype policy afterwards."""
    previous = keras.mixed_precision.global_policy()
    try:
        yield prepare(train, file=file)
    finally:
        keras.mixed_precision.set_global_policy(previous)
