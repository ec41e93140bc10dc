"""The runtime prepared once per run: precision = "auto" follows the hardware (conformance under each policy:
tests/techniques), per-backend decisions (checked without switching this process's backend), optimizer state
sizes, and prepare/prepared on this process."""

import os
import sys

import keras
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
