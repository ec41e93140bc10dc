"""The package face: ``import kerastricks as kt`` is cheap, exposes every family, and registers every
serializable class, so ``keras.models.load_model`` works in a fresh process after ``import kerastricks``."""

import subprocess
import sys
from pathlib import Path

import keras
import pytest

import kerastricks as kt

ROOT = Path(__file__).resolve().parents[1]


def python(code: str, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=timeout)


def test_import_is_lazy():
    proc = python("import sys, kerastricks as kt; kt.recipes; kt.techniques; "
                  "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


@pytest.mark.parametrize("family, name", [
    ("layers", "WSConv2D"), ("layers", "ExtendedBatchNormalization"), ("layers", "ACBlock"),
    ("layers", "reparameterize"), ("optimizers", "Adafactor"), ("optimizers", "SM3"), ("optimizers", "AGC"),
    ("schedules", "OneCycle"), ("schedules", "TriangularCyclicalLearningRate"), ("schedules", "WarmUp"),
    ("losses", "SparseCrossentropy"), ("losses", "LDAMLoss"), ("callbacks", "TimeToTarget"),
    ("callbacks", "DivergenceGuard"), ("data", "load_dataset"), ("data", "echo"), ("models", "build_model"),
    ("techniques", "build_technique"),
])
def test_families_are_attributes(family, name):
    module = getattr(kt, family)
    assert module.__name__ == f"kerastricks.{family}"
    assert name in module.__all__ and getattr(module, name) is not None


def test_top_level_objects_and_unknown_names():
    assert kt.Trainer.__name__ == "Trainer" and callable(kt.lr_find) and callable(kt.load_recipe)
    assert set(kt.__all__) <= set(dir(kt))
    for name in kt.__all__:
        assert getattr(kt, name) is not None  # every advertised name resolves
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kt.nope  # noqa: B018


def test_plain_keras_client_round_trip(tmp_path):
    """examples/plain_keras.py: fit + save in one process, load + predict in another (import keras, kerastricks)."""
    script = ROOT / "examples" / "plain_keras.py"
    path = str(tmp_path / "model.keras")
    fit = subprocess.run([sys.executable, str(script), "fit", path], capture_output=True, text=True, timeout=300)
    assert fit.returncode == 0, fit.stderr
    assert "saved" in fit.stdout
    load = subprocess.run([sys.executable, str(script), "load", path], capture_output=True, text=True, timeout=300)
    assert load.returncode == 0, load.stdout + load.stderr
    assert "predictions equal: True" in load.stdout
    assert "WSConv2D" in load.stdout and "Adafactor" in load.stdout and "SparseCrossentropy" in load.stdout
    # the loading process imported only keras and kerastricks
    source = script.read_text()
    imports = {line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))}
    assert imports == {"sys", "keras", "numpy", "kerastricks"}


def test_saved_model_loads_in_process_after_import():
    model = keras.Sequential([keras.Input((4, 4, 1)), kt.layers.WSConv2D(2, 3), keras.layers.Flatten(),
                              keras.layers.Dense(2)])
    config = keras.saving.serialize_keras_object(model)
    revived = keras.saving.deserialize_keras_object(config)
    assert type(revived.layers[0]) is kt.layers.WSConv2D


@pytest.mark.parametrize("args", [["list"], ["list", "techniques"], ["show", "--preset", "mnist1d"], ["--help"],
                                  ["train", "--help"]])
def test_commands_that_need_no_model_never_import_a_backend(args):
    # `python -m kerastricks` ends with os._exit after the exit handlers (cli.run): report from one of them
    code = ("import atexit, sys, runpy\nsys.argv = ['kerastricks', *sys.argv[1:]]\n"
            "atexit.register(lambda: print('loaded:', sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') "
            "if m in sys.modules)))\ntry:\n"
            "    runpy.run_module('kerastricks', run_name='__main__')\nexcept SystemExit as exc:\n"
            "    assert exc.code in (0, None), exc.code\n")
    proc = python(code, *args)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "loaded: []"
