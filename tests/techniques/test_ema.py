"""EMA through Keras's optimizer option: the average follows the numpy recursion."""

import keras
import numpy as np

from kerastricks.techniques import TrainContext, build_technique


def test_optimizer_options_and_callback():
    technique = build_technique("ema", {"momentum": 0.9})
    opts = technique.optimizer_options({"learning_rate": 0.1}, TrainContext())
    assert opts == {"learning_rate": 0.1, "use_ema": True, "ema_momentum": 0.9, "ema_overwrite_frequency": None}
    callbacks = technique.callbacks(TrainContext())
    assert len(callbacks) == 1 and isinstance(callbacks[0], keras.callbacks.SwapEMAWeights)
    assert build_technique("ema", {"evaluate_with_ema": False}).callbacks(TrainContext()) == []


def test_final_weights_are_numpy_ema_of_the_trajectory(make_model, tiny_data):
    x, y = tiny_data
    momentum = 0.8
    technique = build_technique("ema", {"momentum": momentum})
    # reference trajectory: the same model trained without EMA, weights after each step
    ref = make_model(seed=3)
    ref.compile(optimizer=keras.optimizers.SGD(0.1), loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    trajectory = []
    for i in range(0, 64, 16):
        ref.train_on_batch(x[i:i + 16], y[i:i + 16])
        trajectory.append([w.numpy().copy() for w in ref.trainable_variables])
    # numpy EMA; Keras starts the average at the first updated weights (momentum 0 on step 1)
    avg = [w.copy() for w in trajectory[0]]
    for step in trajectory[1:]:
        avg = [momentum * a + (1 - momentum) * w for a, w in zip(avg, step)]

    model = make_model(seed=3)
    opts = technique.optimizer_options({"learning_rate": 0.1}, TrainContext())
    model.compile(optimizer=keras.optimizers.SGD(**opts),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0, callbacks=technique.callbacks(TrainContext()))
    # fit ends with finalize_variable_values: the model holds the average
    for got, want in zip(model.trainable_variables, avg):
        np.testing.assert_allclose(got.numpy(), want, rtol=1e-5, atol=1e-6)
