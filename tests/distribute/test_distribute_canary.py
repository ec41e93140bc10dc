"""Canary: TensorFlow's MultiWorkerMirroredStrategy with 2 local workers still fails in Keras's ``fit``.

kerastricks refuses ``train.distribute = "mirrored"`` across processes because of this failure
(keras-team/keras#20585: ``PerReplica ... unsupported type`` in the symbolic build, ``Invalid reduction
dimension`` on scalar metrics). When this test fails because ``fit`` succeeded, Keras has fixed it: support
TensorFlow across processes and drop the refusal in :func:`kerastricks.distribute.config.check_processes`.
"""

import json
import os
import socket
import subprocess
import sys

import pytest

WORKER = """
import os
os.environ["KERAS_BACKEND"] = "tensorflow"
import numpy as np
import tensorflow as tf
import keras

strategy = tf.distribute.MultiWorkerMirroredStrategy()
with strategy.scope():
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(2)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
x = np.random.RandomState(0).randn(64, 8).astype("float32")
y = (x.sum(axis=1) > 0).astype("int32")
model.fit(tf.data.Dataset.from_tensor_slices((x, y)).batch(16), epochs=1, verbose=0)
print("FIT-OK", flush=True)
"""
KNOWN = ("unsupported type", "PerReplica", "Invalid reduction dimension")


def _ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


@pytest.mark.slow
def test_multi_worker_mirrored_fit_still_fails_in_keras():
    hosts = [f"127.0.0.1:{p}" for p in _ports(2)]
    procs = []
    for i in range(2):
        env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2",
               "TF_CONFIG": json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})}
        procs.append(subprocess.Popen([sys.executable, "-c", WORKER], env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=600)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append((proc.returncode, out, err))
    if all(code == 0 and "FIT-OK" in out for code, out, _ in results):
        pytest.fail("MultiWorkerMirroredStrategy fit works now (keras-team/keras#20585 fixed?): support "
                    "train.distribute = 'mirrored' across processes and drop the refusal in check_processes")
    failed = [err for code, _, err in results if code != 0]
    assert failed, results
    assert any(k in err for err in failed for k in KNOWN), "a different failure: " + failed[0][-3000:]
