"""precision = "auto": the policy follows the hardware (conformance under each policy: tests/techniques)."""

import pytest

from kerastricks.train import cpu_flags, resolve_precision


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
