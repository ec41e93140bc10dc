"""L2 kernel regularization: loss = data loss + factor * sum(kernel^2), in numpy."""

import keras
import numpy as np
import pytest

from kerastricks.techniques import TrainContext, build_technique
from kerastricks.techniques.l2 import add_kernel_regularization


def test_l2_penalty_matches_numpy(make_model, tiny_data):
    x, y = tiny_data
    model = make_model()
    technique = build_technique("l2", {"factor": 1e-2})
    ctx = TrainContext()
    regularized = technique.apply_to_model(model, ctx)
    assert ctx.notes["l2"]["layers_regularized"] == 2
    assert regularized is not model
    # weights are copied, outputs unchanged
    np.testing.assert_allclose(regularized.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)
    regularized.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    loss = regularized.evaluate(x, y, batch_size=len(x), verbose=0)
    logits = model.predict(x, verbose=0).astype(np.float64)
    logp = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    data_loss = -logp[np.arange(len(y)), y].mean()
    penalty = 1e-2 * sum(float(np.sum(np.square(layer.kernel.numpy()))) for layer in model.layers[1:])
    # float32 forward pass: rtol 1e-5
    np.testing.assert_allclose(loss, data_loss + penalty, rtol=1e-5)


def test_l2_include_bias_and_original_untouched(make_model):
    model = make_model()
    new, changed = add_kernel_regularization(model, keras.regularizers.L2(0.1), include_bias=True)
    assert changed == 2
    for layer in new.layers[1:]:
        assert isinstance(layer.kernel_regularizer, keras.regularizers.L2)
        assert isinstance(layer.bias_regularizer, keras.regularizers.L2)
    for layer in model.layers[1:]:
        assert layer.kernel_regularizer is None


def test_l2_on_subclassed_model_is_a_clear_error():
    from kerastricks.errors import ConfigError

    class Sub(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    model = Sub()
    model(np.zeros((1, 3), "float32"))
    with pytest.raises(ConfigError) as err:
        add_kernel_regularization(model, keras.regularizers.L2(0.1))
    assert "\n" not in str(err.value)
