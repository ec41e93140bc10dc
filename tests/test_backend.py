"""Without TensorFlow (or any backend), kerastricks imports, lists and shows; training names the extras."""

import subprocess
import sys

HIDE_TF = "import sys; sys.modules['tensorflow'] = None; "


def _run_cli(args: str):
    code = HIDE_TF + f"sys.argv = ['kerastricks', *{args.split()!r}]; import runpy; " \
                     "runpy.run_module('kerastricks', run_name='__main__')"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)


def test_import_without_backend_works_and_stays_lazy():
    code = HIDE_TF + "import kerastricks as kt; print(kt.__version__, 'keras' in sys.modules)"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    version, keras_loaded = proc.stdout.split()
    assert version and keras_loaded == "False"


def test_list_and_show_need_no_backend():
    for args in ("list", "show --preset digits"):
        proc = _run_cli(args)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() and "Traceback" not in proc.stderr


def test_train_without_backend_exits_2_with_one_line(tmp_path):
    proc = _run_cli(f"train --preset digits --runs-root {tmp_path / 'runs'}")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "kerastricks[cpu]" in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "runs").exists()


def test_backend_is_tensorflow():
    import keras

    import kerastricks  # noqa: F401

    assert keras.backend.backend() == "tensorflow"


def test_cli_keras_import_skips_sklearn_but_leaves_it_importable():
    code = ("import sys; from kerastricks._backend import import_keras_for_cli; import_keras_for_cli(); "
            "print('keras' in sys.modules, 'sklearn' in sys.modules); "
            "from sklearn.datasets import load_digits; print(load_digits().data.shape[1]); "
            "import keras.src.wrappers.utils as u; print(u.sklearn is None)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", "False", "64", "True"]


def test_cli_keras_import_leaves_an_imported_keras_or_sklearn_alone():
    code = ("import sys, sklearn; from kerastricks._backend import import_keras_for_cli; import_keras_for_cli(); "
            "import keras.src.wrappers.utils as u; print(u.sklearn is sys.modules['sklearn'])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True"]
