"""Per-backend runtime decisions, checked without switching this process's backend."""

from __future__ import annotations

import os
import sys

from kerastricks import runtime


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
