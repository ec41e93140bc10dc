"""``KERAS_BACKEND=jax|torch kerastricks train``: the presets complete with the same report fields.

One tiny run per backend, in parallel subprocesses: torch on the default
``mnist1d`` preset (``steps_per_execution = 8`` there, which Keras's torch
trainer refuses: the run uses 1 and says why), JAX on ``digits`` chosen by
``[train] backend`` rather than the environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")
pytest.importorskip("torch")

TINY = ["--set", "train.epochs=1", "--set", "model.width=8", "--set", "train.plots=false",
        "--set", "train.tensorboard=false", "--quiet"]


def _train(tmp_path, name, args, env):
    out = tmp_path / name
    cmd = [sys.executable, "-m", "kerastricks", "train", *args, *TINY, "--out", str(out)]
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    return out, proc


def test_train_on_jax_and_torch_reports_backend(tmp_path):
    runs = {
        # a few steps each (the report's fields, not the accuracy, are under test): 1024 examples are 8 steps
        # of 128, the fewest the preset's one-cycle schedule (pct_start 0.25) takes with a step on each side
        "torch": _train(tmp_path, "torch", ["--preset", "mnist1d", "--set", "model.depth=2",
                                            "--set", "data.train_examples=1024"], {"KERAS_BACKEND": "torch"}),
        "jax": _train(tmp_path, "jax", ["--preset", "digits", "--set", "train.backend=jax",
                                        "--set", "train.threads=1", "--set", "data.train_examples=256"], {}),
    }
    reports = {}
    for backend, (out, proc) in runs.items():
        _, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{backend}: {stderr[-3000:]}"
        reports[backend] = json.loads((out / "report.json").read_text())
        assert (out / "model.keras").exists()
    # build_report writes the same fields on every backend; these are the ones that vary by backend.
    keys = set(reports["torch"])
    assert {"backend", "backend_version", "jit_compile", "steps_per_execution", "threads", "deterministic",
            "versions", "test", "examples_per_s", "time_to_target_s", "device_memory_peak_bytes"} <= keys
    for backend, report in reports.items():
        assert set(report) == keys, (backend, set(report) ^ keys)
        assert report["backend"] == backend and report["backend_version"]
        assert report["versions"]["backend"] == backend
        assert 0.0 <= report["test"]["accuracy"] <= 1.0
    torch_spe = reports["torch"]["steps_per_execution"]
    assert torch_spe["value"] == 1 and "torch" in torch_spe["reason"] and "8 requested" in torch_spe["reason"]
    assert reports["jax"]["jit_compile"]["value"] is True  # "auto" compiles on JAX
    assert reports["jax"]["threads"].startswith("1 (XLA_FLAGS")
    assert reports["torch"]["threads"] == "1"
