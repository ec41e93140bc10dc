"""`python -m kerastricks`: the module entry point runs the command line and exits with the command's code."""

import subprocess
import sys


def test_module_entry_point_prints_and_exits_with_the_commands_code(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kerastricks", "show", "--preset", "digits"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "[train]" in proc.stdout  # the whole resolved recipe reached the pipe before the quick exit
    bad = subprocess.run([sys.executable, "-m", "kerastricks", "train", "--set", "train.epochs=0",
                          "--runs-root", str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
