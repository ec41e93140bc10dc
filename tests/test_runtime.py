"""The runtime prepared once per run: precision = "auto" follows the hardware (conformance under each policy:
tests/techniques), per-backend decisions (checked without switching this process's backend), optimizer state
sizes, and prepare/prepared on this process."""

import os
import sys

import keras
import numpy as np
import pytest

from kerastricks import runtime
from kerastricks.runtime import cpu_flags, optimizer_state_size, resolve_precision


@pytest.mark.parametrize(
    "flags,capability,policy",
    [
        (set(), (8, 0), "mixed_bfloat16"),
        (set(), (9, 0), "mixed_bfloat16"),
        (set(), (7, 5), "mixed_float16"),
        ({"avx2", "amx_bf16", "amx_tile"}, None, "mixed_bfloat16"),
        ({"avx512f", "avx512_bf16"}, None, "mixed_bfloat16"),
        ({"avx2", "avx512f"}, None, "float32"),
    ],
)
def test_auto_policy_follows_the_hardware(flags, capability, policy):
    chosen, reason = resolve_precision("auto", flags=flags, capability=capability)
    assert chosen == policy and reason.startswith("auto:")
    assert resolve_precision("mixed_float16", flags=flags, capability=capability) == ("mixed_float16",
                                                                                     "set in recipe")


def test_cpu_flags_reads_proc_cpuinfo_format(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nflags\t\t: fpu avx2 amx_bf16\n\nprocessor\t: 1\n")
    assert cpu_flags(path) == {"fpu", "avx2", "amx_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_optimizer_state_size_counts_slots():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    opt = keras.optimizers.Adam()
    opt.build(model.trainable_variables)
    size = optimizer_state_size(opt)
    assert size["scalars"] == 2 * 8 + 2  # m and v for 8 weights, iteration and learning_rate
    assert size["bytes"] == 16 * 4 + 8 + 4  # iteration is int64


def test_steps_per_execution_is_one_on_torch_with_the_reason(monkeypatch):
    monkeypatch.setattr(runtime, "backend_name", lambda: "torch")
    assert runtime.resolve_steps_per_execution(8) == (
        1, "torch: Keras's PyTorch trainer runs one batch per call (8 requested)")
    assert runtime.resolve_steps_per_execution(1) == (1, "set in recipe")
    for backend in ("tensorflow", "jax"):
        monkeypatch.setattr(runtime, "backend_name", lambda b=backend: b)
        assert runtime.resolve_steps_per_execution(8) == (8, "set in recipe")


def test_jax_threads_go_to_xla_flags_before_jax_starts(monkeypatch):
    monkeypatch.setattr(runtime, "backend_name", lambda: "jax")
    monkeypatch.delitem(sys.modules, "jax", raising=False)
    monkeypatch.setenv("XLA_FLAGS", "--xla_dump_to=/tmp/x")
    assert runtime.configure_threads(1).startswith("1 (XLA_FLAGS")
    flags = os.environ["XLA_FLAGS"].split()
    assert flags == ["--xla_dump_to=/tmp/x", "--xla_cpu_multi_thread_eigen=false", "intra_op_parallelism_threads=1"]
    runtime.set_jax_threads(4)  # a count already there wins: nothing is added twice
    assert os.environ["XLA_FLAGS"].split() == flags
    monkeypatch.setenv("XLA_FLAGS", "")
    runtime.set_jax_threads(3)
    assert os.environ["XLA_FLAGS"] == "intra_op_parallelism_threads=3"
    monkeypatch.setitem(sys.modules, "jax", object())  # started already, with other flags: said, not hidden
    assert runtime.configure_threads(2).startswith("not applied (2 requested)")


def test_report_names_backend_and_version():
    info = runtime.RuntimeInfo("tensorflow", 0, "float32", "set", False, "set", "auto", None,
                               runtime.backend_version("tensorflow"), 8, "set in recipe")
    report = info.report()
    assert report["backend"] == "tensorflow" and report["backend_version"].startswith("2.")
    assert report["steps_per_execution"] == {"value": 8, "reason": "set in recipe"}
    assert runtime.backend_version("no-such-backend") is None


@pytest.mark.parametrize("backend, gpu, want", [("jax", False, True), ("torch", True, False),
                                                ("tensorflow", True, True), ("tensorflow", False, False)])
def test_auto_jit_follows_the_backend_and_the_device(monkeypatch, backend, gpu, want):
    monkeypatch.setattr(runtime, "backend_name", lambda: backend)
    monkeypatch.setattr(runtime, "gpu_available", lambda: gpu)
    value, reason = runtime.resolve_jit("auto")
    assert value is want and reason.startswith("auto:")
    assert runtime.resolve_jit(True) == (True, "set in recipe") and runtime.resolve_jit(False) == (False,
                                                                                                 "set in recipe")


def test_backend_is_chosen_before_keras_and_never_switched_after(monkeypatch):
    from kerastricks import _backend
    from kerastricks.errors import ConfigError

    current = keras.backend.backend()
    assert runtime.apply_backend(None) == current == runtime.backend_name()
    assert runtime.apply_backend(current) == current
    other = "jax" if current != "jax" else "torch"
    with pytest.raises(ConfigError, match="Keras is already running on") as info:
        runtime.apply_backend(other, file="r.toml")
    assert (info.value.file, info.value.key, info.value.received) == ("r.toml", "train.backend", other)
    # before Keras is imported: the choice goes to KERAS_BACKEND, if the backend is installed
    monkeypatch.delitem(sys.modules, "keras")
    monkeypatch.setenv("KERAS_BACKEND", current)
    monkeypatch.setattr(_backend, "installed", lambda name: name == "jax")
    assert runtime.apply_backend("jax") == "jax" and os.environ["KERAS_BACKEND"] == "jax"
    assert runtime.backend_name() == "jax"
    with pytest.raises(ConfigError, match="backend not installed") as info:
        runtime.apply_backend("tensorflow", file="r.toml")
    assert info.value.expected == 'an installed backend (pip install "kerastricks[cpu]")'


def _train(**settings):
    from kerastricks.recipes import recipe_from_dict

    train = {"seed": 7, "deterministic": False, "precision": "mixed_bfloat16", "jit_compile": False, **settings}
    return recipe_from_dict({"data": {"name": "digits"}, "model": {"name": "mlp"}, "train": train},
                            source="r.toml").train


def test_prepared_applies_the_settings_and_restores_the_policy():
    before = keras.mixed_precision.global_policy().name
    with runtime.prepared(_train()) as info:
        assert keras.mixed_precision.global_policy().name == "mixed_bfloat16"
        first = keras.random.uniform((3,), seed=keras.random.SeedGenerator(1))
        drawn = np.random.rand(3)
    assert keras.mixed_precision.global_policy().name == before
    assert (info.seed, info.precision, info.jit, info.deterministic) == (7, "mixed_bfloat16", False, None)
    assert info.threads == "auto (backend default)" and info.backend == keras.backend.backend()
    with runtime.prepared(_train()):  # the same seed: the same draws
        np.testing.assert_array_equal(np.random.rand(3), drawn)
        np.testing.assert_array_equal(keras.random.uniform((3,), seed=keras.random.SeedGenerator(1)), first)
    with pytest.raises(RuntimeError), runtime.prepared(_train()):
        raise RuntimeError("the run failed")
    assert keras.mixed_precision.global_policy().name == before  # restored on failure too


def test_versions_name_the_stack():
    got = runtime.versions()
    assert {"python", "keras", "backend", "numpy", "kerastricks", keras.backend.backend()} <= set(got)
    assert got["keras"] == keras.__version__ and got["numpy"] == np.__version__
