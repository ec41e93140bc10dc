"""Without TensorFlow, kerastricks fails in one line naming the extras to install."""

import subprocess
import sys

HIDE_TF = "import sys; sys.modules['tensorflow'] = None; "


def test_import_without_backend_names_the_extras():
    proc = subprocess.run([sys.executable, "-c", HIDE_TF + "import kerastricks"], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert "BackendMissingError" in last and "kerastricks[cpu]" in last and "kerastricks[gpu]" in last


def test_cli_without_backend_exits_2_with_one_line():
    code = HIDE_TF + "sys.orig_argv = [sys.executable, '-m', 'kerastricks', 'list']; import runpy; " \
                     "runpy.run_module('kerastricks', run_name='__main__')"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "kerastricks[cpu]" in lines[0] and "Traceback" not in proc.stderr


def test_backend_is_tensorflow():
    import keras

    import kerastricks  # noqa: F401

    assert keras.backend.backend() == "tensorflow"
