"""The component families need only Keras and the chosen backend: they import and run with TensorFlow blocked."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytest.importorskip("jax")

CODE = """
import sys

sys.modules["tensorflow"] = None  # `import tensorflow` fails and find_spec answers None, as if not installed
import numpy as np
import keras
import kerastricks as kt

names = 0
for family in ("optimizers", "schedules", "layers", "losses", "callbacks"):
    module = getattr(kt, family)
    for name in module.__all__:
        getattr(module, name)
        names += 1
# a few steps with components of every family
model = keras.Sequential([keras.Input((6, 1)), kt.layers.WSConv1D(4, 3), keras.layers.GlobalAveragePooling1D(),
                          keras.layers.Dense(3, name="logits")])
optimizer = kt.optimizers.AGC(keras.optimizers.SGD(kt.schedules.OneCycle(0.1, total_steps=8), momentum=0.9),
                              exclude=["logits"])
model.compile(optimizer=optimizer, loss=kt.losses.LDAMLoss([8, 4, 4]))
x = np.random.default_rng(0).normal(size=(16, 6, 1)).astype("float32")
y = np.array([0] * 8 + [1] * 4 + [2] * 4)
model.fit(x, y, batch_size=4, epochs=2, verbose=0,
          callbacks=[kt.schedules.OneCycleMomentum(total_steps=8), kt.callbacks.DeferredReweighting(1)])
assert sys.modules["tensorflow"] is None and not any(m.startswith("tensorflow.") for m in sys.modules)
print(keras.backend.backend(), names)
"""


@pytest.mark.parametrize("backend", ["jax"])
def test_components_import_and_train_without_tensorflow(backend):
    env = {"KERAS_BACKEND": backend, "PATH": "/usr/bin:/bin"}
    env.update({k: v for k, v in os.environ.items() if k in ("PYTHONPATH", "HOME", "KERASTRICKS_CACHE_DIR")})
    proc = subprocess.run([sys.executable, "-c", CODE], capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    backend_used, names = proc.stdout.split()
    assert backend_used == backend and int(names) > 30
