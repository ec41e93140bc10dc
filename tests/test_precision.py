"""precision = "auto": the policy follows the hardware; every technique trains under every policy."""

import math

import keras
import pytest

from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TECHNIQUES
from kerastricks.train import Trainer, cpu_flags, resolve_precision


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


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_every_technique_trains_under_each_policy(policy):
    before = keras.mixed_precision.global_policy().name
    for name in TECHNIQUES.names():
        recipe = recipe_from_dict({
            "data": {"name": "digits", "validation_split": 0.2},
            "model": {"name": "mlp", "width": 8, "depth": 1},
            "train": {"epochs": 1, "batch_size": 64, "precision": policy, "tensorboard": False, "plots": False},
            "techniques": {name: {}},
        })
        result = Trainer(recipe, write=False, verbose=0).fit()
        report = result.report
        assert report["precision"]["value"] == policy, name
        assert math.isfinite(report["last_epoch"]["loss"]), name
        assert result.model.get_layer("logits").compute_dtype == "float32", name
        assert result.model.layers[2].compute_dtype == policy.split("_")[1], name
        assert keras.mixed_precision.global_policy().name == before  # restored after the run
