"""Every component on TensorFlow, JAX and PyTorch: the same numbers within a stated tolerance.

Keras picks its backend once per process, so :mod:`conformance` runs once per
backend in a subprocess (the three run at the same time) and prints JSON; the
tests here compare each component's JAX and PyTorch numbers with TensorFlow's
and check the properties each backend reported. The matrix, with the measured
differences, is in ``docs/backends.md``.

Tolerances (absolute, on weights, losses and outputs after a few float32 steps,
values of order 0.1-3): 1e-5 everywhere except what the ``TOLERANCE`` table
raises; measured at most 5e-7 on this machine (docs/backends.md). The backends'
kernels (matmul order, fused ops) differ in the last float32 bits and a few
optimizer steps grow that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("jax")
pytest.importorskip("torch")

SCRIPT = Path(__file__).with_name("conformance.py")
BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_TOLERANCE = 1e-5
#: Wider where more steps grow float32 differences.
TOLERANCE = {"recipe/agc_one_cycle_drw": 1e-4}
#: The combined recipe's learning curves: losses and accuracies of every epoch (one example of 60 is 0.0167).
CURVE_TOLERANCE = 1e-4


#: What CI runs (every family, and every component that needs backend-specific care: AGC's exclusion, the
#: one-cycle momentum, DRW, recompute, lr_find, resumable state, SWA, the GAN's own train_step). The whole table
#: (43 checks; Lookahead among them, roughly 23 CPU-seconds over the three backends, half of it JAX compiling
#: two fits) runs with KERASTRICKS_ALL_BACKEND_CHECKS=1.
FAST = ("optimizer/adafactor", "optimizer/agc_adam", "schedule/one_cycle", "layer/extended_bn", "layer/recompute",
        "loss/ldam", "callback/", "tool/", "recipe/", "example/")
ALL = os.environ.get("KERASTRICKS_ALL_BACKEND_CHECKS") == "1"


def _run_all() -> dict[str, dict]:
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    args = [] if ALL else ["--only", ",".join(FAST)]
    procs = {}
    for backend in BACKENDS:
        procs[backend] = subprocess.Popen([sys.executable, str(SCRIPT), *args], env={**env, "KERAS_BACKEND": backend},
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for backend, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=900)
        assert proc.returncode == 0, f"{backend}: {stderr[-3000:]}"
        report = json.loads(stdout.strip().splitlines()[-1])
        assert report["backend"] == backend
        out[backend] = report["results"]
    return out


@pytest.fixture(scope="module")
def results():
    return _run_all()




@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_every_component_matches_tensorflow(results, backend):
    names = list(results["tensorflow"])
    assert sorted(results[backend]) == sorted(names)
    # every family is there, and every component whose correctness depends on the backend
    for prefix in FAST:
        assert any(n.startswith(prefix) for n in names), prefix
    failures = []
    for name in names:
        ref, got = results["tensorflow"].get(name, {}), results[backend].get(name, {})
        for which, entry in (("tensorflow", ref), (backend, got)):
            if "error" in entry:
                failures.append(f"{name} on {which}: {entry['error']}")
        if "error" in ref or "error" in got:
            continue
        a, b = np.array(ref["values"]), np.array(got["values"])
        if a.shape != b.shape:
            failures.append(f"{name}: {a.shape} values on tensorflow, {b.shape} on {backend}")
            continue
        diff = float(np.max(np.abs(a - b))) if a.size else 0.0
        if not diff <= TOLERANCE.get(name, DEFAULT_TOLERANCE):
            failures.append(f"{name}: max |{backend} - tensorflow| = {diff:.3g}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("backend", BACKENDS)
def test_properties_hold_on_every_backend(results, backend):
    r = results[backend]
    for name, entry in r.items():
        if "roundtrip" in entry:  # .keras save/load gives the same outputs
            assert entry["roundtrip"] <= 1e-6, (name, entry["roundtrip"])
    # AGC: excluding the classifier changes the result (the exclusion is honoured inside the compiled step).
    exclude, plain = np.array(r["optimizer/agc_adam_exclude"]["values"]), np.array(r["optimizer/agc_adam"]["values"])
    assert np.max(np.abs(exclude - plain)) > 1e-3
    # One-cycle momentum moves inside the compiled step, and a later fit reads the plain number again.
    checks = r["callback/one_cycle_momentum"]["checks"]
    assert checks["cycled_vs_constant_max_diff"] > 1e-3
    assert checks["later_fit_vs_fresh_max_diff"] <= 1e-6 and checks["momentum_restored"] == pytest.approx(0.9)
    # DRW: epoch 0 unweighted (same as plain LDAM), re-weighted from epoch 1 on (different loss).
    checks = r["callback/deferred_reweighting"]["checks"]
    assert checks["epoch0_diff"] <= 1e-6 and checks["epoch2_diff"] > 1e-3
    weights = np.array(checks["class_weights"])
    assert weights.sum() == pytest.approx(3.0, rel=1e-5) and weights[0] < weights[1] < weights[2]
    # Re-parameterized blocks equal their training-time form; lr_find leaves the model as it found it.
    for name in ("layer/acnet", "layer/repvgg"):
        if name in r:
            assert r[name]["checks"]["reparameterize_max_diff"] <= 1e-4
    assert r["tool/lr_find"]["checks"]["restored_max_diff"] == 0.0
    assert r["callback/resumable_state"]["values"] == [0.25, 3]
    # Lookahead: 6 steps, sync every 2: the slow weights are carried through the compiled step (the fast ones
    # equal them after the last synchronization) and the result is not the inner optimizer's.
    if "optimizer/lookahead_adamw" in r:  # the whole table only
        checks = r["optimizer/lookahead_adamw"]["checks"]
        assert checks["iterations"] == 6 and checks["fast_vs_slow_max_diff"] == 0.0
        assert checks["vs_inner_alone_max_diff"] > 1e-3
    # SWA: the mean of the epoch-end weights of epochs 2 and 3; update_bn moves the statistics and only them.
    checks = r["callback/swa"]["checks"]
    assert checks["n_averaged"] == 2 and checks["average_vs_mean_of_epoch_ends"] <= 1e-6
    assert checks["update_bn_others_max_diff"] == 0.0 and checks["update_bn_stats_changed"] > 1e-3
    # The GAN's own train_step: both players move, one step each per batch; .keras keeps both optimizers' state.
    checks = r["example/gan"]["checks"]
    assert checks["finite"] and checks["generator_moved"] > 0 and checks["discriminator_moved"] > 0
    assert checks["iterations"] == [4, 4, 4] and checks["optimizer_state_roundtrip"] == 0.0
    assert 0 < checks["max_abs_sample"] <= 2.0  # tanh output times data_scale


def test_combined_recipe_same_learning_curves(results):
    ref = results["tensorflow"]["recipe/agc_one_cycle_drw"]
    assert ref["loss"][1] < ref["loss"][0]  # it learns before the re-weighting starts (epoch 2)
    for backend in ("jax", "torch"):
        got = results[backend]["recipe/agc_one_cycle_drw"]
        np.testing.assert_allclose(got["loss"], ref["loss"], atol=CURVE_TOLERANCE)
        np.testing.assert_allclose(got["accuracy"], ref["accuracy"], atol=CURVE_TOLERANCE)
