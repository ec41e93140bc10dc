"""Gradient accumulation: k batches give one SGD step on their mean gradient."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from kerastricks.errors import ConfigError
from kerastricks.techniques import TrainContext, build_technique


def test_one_update_per_k_batches_equals_mean_gradient(make_model, tiny_data):
    x, y = tiny_data
    technique = build_technique("gradient_accumulation", {"steps": 4})
    opts = technique.optimizer_options({"learning_rate": 0.5}, TrainContext())
    assert opts["gradient_accumulation_steps"] == 4
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    ref = make_model(seed=5)
    grads = []
    for i in range(4):
        with tf.GradientTape() as tape:
            loss = loss_fn(y[i * 16:(i + 1) * 16], ref(x[i * 16:(i + 1) * 16]))
        grads.append([g.numpy() for g in tape.gradient(loss, ref.trainable_variables)])
    mean = [np.mean([g[j] for g in grads], axis=0) for j in range(len(grads[0]))]
    expected = [w.numpy() - 0.5 * g for w, g in zip(ref.trainable_variables, mean)]

    model = make_model(seed=5)
    model.compile(optimizer=keras.optimizers.SGD(**opts), loss=loss_fn)
    start = [w.numpy().copy() for w in model.trainable_variables]
    for i in range(3):
        model.train_on_batch(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16])
    for got, want in zip(model.trainable_variables, start):
        np.testing.assert_array_equal(got.numpy(), want)  # no update before the 4th batch
    model.train_on_batch(x[48:64], y[48:64])
    for got, want in zip(model.trainable_variables, expected):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)


def test_steps_must_be_at_least_two():
    with pytest.raises(ConfigError):
        build_technique("gradient_accumulation", {"steps": 1})
