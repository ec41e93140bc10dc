"""reparameterize(): a whole model folded to plain convolutions equals the original in inference mode."""

import keras
import numpy as np
import pytest

from kerastricks.layers import ACBlock, ExtendedBatchNormalization, RepVGGBlock, WSConv2D, reparameterize


def small_model(seed):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((10, 10, 3))
    x = ACBlock(8, 3, name="acb")(inputs)
    x = keras.layers.BatchNormalization(name="acb_bn")(x)        # a norm after a block folds too
    x = keras.layers.ReLU()(x)
    x = RepVGGBlock(8, 3, name="rep")(x)
    x = keras.layers.ReLU()(x)
    y = keras.layers.Conv2D(8, 3, strides=2, padding="same", use_bias=False, name="conv")(x)
    y = ExtendedBatchNormalization(name="conv_ebn")(y)
    y = keras.layers.ReLU()(y)
    z = WSConv2D(8, 3, padding="same", scale="relu", name="ws")(y)
    z = keras.layers.BatchNormalization(name="ws_bn")(z)
    # a conv whose output is used twice must not be folded into one of its consumers
    shared = keras.layers.Conv2D(8, 1, name="shared")(z)
    a = keras.layers.BatchNormalization(name="shared_bn")(shared)
    z = keras.layers.Add()([a, shared])
    z = keras.layers.GlobalAveragePooling2D()(z)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(z))


def test_reparameterize_model_equals_original_and_leaves_it_untouched(randomize_norms, max_rel_diff):
    rng = np.random.default_rng(4)
    model = small_model(0)
    randomize_norms(model, rng)
    before = [w.copy() for w in model.get_weights()]
    x = rng.normal(size=(4, 10, 10, 3)).astype("float32")
    deploy = reparameterize(model)
    assert max_rel_diff(model(x, training=False), deploy(x)) <= 1e-5
    kinds = {layer.name: type(layer) for layer in deploy.layers}
    assert kinds["acb"] is keras.layers.Conv2D and kinds["rep"] is keras.layers.Conv2D
    assert kinds["ws"] is keras.layers.Conv2D
    for folded in ("acb_bn", "conv_ebn", "ws_bn"):
        assert kinds[folded] is keras.layers.Identity
    assert kinds["shared_bn"] is keras.layers.BatchNormalization  # not folded: 'shared' has two consumers
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert deploy.count_params() < model.count_params()


def test_reparameterize_sequential_and_errors(randomize_norms, max_rel_diff):
    rng = np.random.default_rng(5)
    model = keras.Sequential([keras.Input((9, 2)), keras.layers.Conv1D(4, 3, name="c"),
                              keras.layers.BatchNormalization(name="bn"), ACBlock(4, 3, rank=1, name="a")])
    randomize_norms(model, rng)
    x = rng.normal(size=(3, 9, 2)).astype("float32")
    deploy = reparameterize(model)
    assert type(deploy.get_layer("bn")) is keras.layers.Identity
    assert max_rel_diff(model(x, training=False), deploy(x)) <= 1e-5
    with pytest.raises(TypeError, match="`model`"):
        reparameterize(keras.layers.Dense(2))
