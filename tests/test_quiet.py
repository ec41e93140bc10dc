"""TensorFlow's known, harmless C++ lines are dropped from file descriptor 2; everything else passes unchanged."""

import os
import subprocess
import sys
import textwrap

import pytest

from kerastricks._quiet import is_benign

#: The lines as TensorFlow 2.21 writes them (timestamps and thread ids vary).
BENIGN_LINES = [
    "WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
    "I0000 00:00:1796308455.832984   12033 port.cc:153] oneDNN custom operations are on. You may see slightly "
    "different numerical results due to floating-point round-off errors from different computation orders.",
    "I0000 00:00:1796308455.832984   12033 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use "
    "available CPU instructions in performance-critical operations.",
    "To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate "
    "compiler flags.",
    "E0000 00:00:1796308460.1234   12099 node_def_util.cc:680] NodeDef mentions attribute use_unbounded_threadpool "
    "which is not in the op definition: Op<name=MapDataset; ...>",
]
REAL_LINES = [
    "Traceback (most recent call last):",
    "E0000 00:00:1796308460.1234   12099 node_def_util.cc:680] NodeDef mentions attribute other_attr which is not in",
    "E0000 00:00:1796308460.1234   12099 cuda_dnn.cc:535] Could not load cuDNN",
    "WARNING: something the user must see",
    "kerastricks: error: recipe.toml: key 'train.epochs': expected > 0, received 0",
    "note: WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",  # not at start
    "",
]


@pytest.mark.parametrize("line", BENIGN_LINES)
def test_known_lines_are_benign(line):
    assert is_benign(line)


@pytest.mark.parametrize("line", REAL_LINES)
def test_other_lines_are_kept(line):
    assert not is_benign(line)


SCRIPT = textwrap.dedent("""
    import os, sys, time
    from kerastricks._quiet import filter_stderr
    benign, real = sys.argv[1].split("\\x1f"), sys.argv[2].split("\\x1f")
    filter_stderr()
    filter_stderr()  # a second call changes nothing
    first = benign[0].encode()
    os.write(2, first[:10])  # a benign line that arrives in two pieces
    time.sleep(0.05)
    os.write(2, first[10:] + b"\\n")
    for b, r in zip(benign[1:], real):
        os.write(2, (b + "\\n" + r + "\\n").encode())
    sys.stderr.write("the last line, without an end of line")
""")


def _run(env_extra):
    env = {k: v for k, v in os.environ.items() if k != "KERASTRICKS_VERBOSE_TF"}
    env.update(env_extra)
    real = [line for line in REAL_LINES if line]
    return subprocess.run([sys.executable, "-c", SCRIPT, "\x1f".join(BENIGN_LINES), "\x1f".join(real)],
                          capture_output=True, timeout=60, env=env), real


def test_filter_drops_exactly_the_benign_lines_of_fd_2():
    proc, real = _run({})
    assert proc.returncode == 0, proc.stderr
    kept = proc.stderr.decode().split("\n")
    assert kept == real[:len(BENIGN_LINES) - 1] + ["the last line, without an end of line"]


def test_verbose_tf_turns_the_filter_off():
    proc, real = _run({"KERASTRICKS_VERBOSE_TF": "1"})
    text = proc.stderr.decode()
    assert all(line in text for line in BENIGN_LINES + real[:len(BENIGN_LINES) - 1])
