"""Registration of every serializable class (``kerastricks._components``): the list matches the source, and a
fresh process registers every class whichever way Keras arrives (directly, or through TensorFlow's import)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from kerastricks import _components

SRC = Path(__file__).resolve().parents[1] / "src" / "kerastricks"


def registered_names() -> set[str]:
    names = set()
    for module in (*_components.SERIALIZABLE_MODULES, *_components.TENSORFLOW_MODULES):
        text = (SRC / Path(*module.split(".")[1:])).with_suffix(".py").read_text()
        for match in re.finditer(r"register_keras_serializable\([^)]*\)\s*\nclass (\w+)", text):
            names.add(f"kerastricks>{match.group(1)}")
    return names


def test_every_registering_module_is_listed():
    registering = set()
    for path in SRC.rglob("*.py"):
        if path.name != "_components.py" and "register_keras_serializable" in path.read_text():
            registering.add(".".join(("kerastricks", *path.relative_to(SRC).with_suffix("").parts)))
    assert registering == set(_components.SERIALIZABLE_MODULES) | set(_components.TENSORFLOW_MODULES)


@pytest.mark.parametrize("order", [
    "import keras, kerastricks",
    "import kerastricks, keras",
    # TensorFlow's import looks Keras up (importlib.util.find_spec) before importing it: the hook must survive
    # a look-up that loads nothing and still run after the real import
    "import kerastricks, tensorflow",
    "import kerastricks, importlib.util\nassert importlib.util.find_spec('keras') is not None\nimport keras",
])
def test_fresh_process_registers_every_class(order):
    expected = registered_names()
    assert len(expected) >= 20
    code = (f"{order}\nimport sys\nassert 'keras' in sys.modules\nfrom keras.saving import get_registered_object\n"
            "missing = [n for n in sys.argv[1:] if get_registered_object(n) is None]\n"
            "print(missing)")
    proc = subprocess.run([sys.executable, "-c", code, *sorted(expected)], capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"


def test_register_all_is_idempotent():
    _components.register_all()
    _components.register_all()
    assert _components._done
    assert all(name in sys.modules for name in _components.SERIALIZABLE_MODULES)
