"""The clip / agc techniques: one clipping choice, Keras's modes or AGC with the classifier unclipped."""

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.optimizers import AdaptiveGradientClipping, unitwise_clip
from kerastricks.recipes import recipe_from_dict
from kerastricks.techniques import TrainContext, build_technique
from kerastricks.techniques.clip import final_layer_paths


@pytest.mark.parametrize("mode, option", [("norm", "clipnorm"), ("value", "clipvalue"),
                                          ("global_norm", "global_clipnorm")])
def test_plain_modes_set_keras_options(mode, option):
    technique = build_technique("clip", {"mode": mode, "threshold": 0.5})
    opts = technique.optimizer_options({"learning_rate": 0.1}, TrainContext())
    assert opts == {"learning_rate": 0.1, option: 0.5}
    optimizer = keras.optimizers.SGD(**opts)
    assert technique.apply_to_optimizer(optimizer, TrainContext()) is optimizer


@pytest.mark.parametrize("name, options", [("agc", {"clipping": 0.02}), ("clip", {"mode": "agc", "clipping": 0.02})])
def test_agc_wraps_and_leaves_the_classifier_unclipped(name, options, make_model):
    technique = build_technique(name, options)
    ctx = TrainContext()
    model = technique.apply_to_model(make_model(), ctx)
    assert technique.optimizer_options({"learning_rate": 0.1}, ctx) == {"learning_rate": 0.1}
    optimizer = technique.apply_to_optimizer(keras.optimizers.SGD(0.1), ctx)
    assert isinstance(optimizer, AdaptiveGradientClipping) and optimizer.clipping == 0.02
    assert final_layer_paths(model) == ["logits/kernel", "logits/bias"]
    assert ctx.notes[name]["unclipped"] == ["logits/kernel", "logits/bias"]
    clipped = {v.path: optimizer.is_clipped(v) for v in model.trainable_variables}
    assert clipped == {"hidden/kernel": True, "hidden/bias": True, "logits/kernel": False, "logits/bias": False}

    # one step: the hidden layer moves by the numpy-clipped gradient, the classifier by the raw one
    rng = np.random.default_rng(0)
    grads = [rng.normal(size=v.shape).astype("float32") * 5 for v in model.trainable_variables]
    before = [v.numpy().copy() for v in model.trainable_variables]
    optimizer.apply([keras.ops.convert_to_tensor(g) for g in grads], model.trainable_variables)
    for v, w, g in zip(model.trainable_variables, before, grads):
        want = keras.ops.convert_to_numpy(unitwise_clip(g, w, 0.02, 1e-3)) if clipped[v.path] else g
        np.testing.assert_allclose(v.numpy(), w - 0.1 * want, rtol=1e-5, atol=1e-7)


def test_explicit_exclude_replaces_the_default(make_model):
    technique = build_technique("agc", {"exclude": []})
    model = technique.apply_to_model(make_model(), TrainContext())
    optimizer = technique.apply_to_optimizer(keras.optimizers.SGD(), TrainContext())
    assert all(optimizer.is_clipped(v) for v in model.trainable_variables)


def recipe(techniques, optimizer=None):
    return recipe_from_dict({
        "data": {"name": "digits"},
        "model": {"name": "mlp", "width": 8, "depth": 1},
        "optimizer": optimizer or {"name": "sgd"},
        "techniques": techniques,
    }, source="r.toml")


@pytest.mark.parametrize(
    "techniques, optimizer, key",
    [
        ({"clip": {"mode": "norm"}}, {"name": "sgd", "clipnorm": 1.0}, "optimizer.clipnorm"),
        ({"agc": {}}, {"name": "adam", "global_clipnorm": 1.0}, "optimizer.global_clipnorm"),
        ({"clip": {"mode": "value"}, "agc": {}}, None, "techniques.agc"),
        ({"clip": {"mode": "max"}}, None, "techniques.clip.mode"),
        ({"agc": {"clipping": 0}}, None, "techniques.agc.clipping"),
        ({"agc": {"exclude": ["("]}}, None, "techniques.agc.exclude"),
    ],
)
def test_recipe_errors(techniques, optimizer, key):
    with pytest.raises(ConfigError) as info:
        recipe(techniques, optimizer)
    assert info.value.key == key and info.value.file == "r.toml" and "\n" not in str(info.value)


def test_recipe_resolves_defaults():
    r = recipe({"clip": {"mode": "agc"}})
    assert r.techniques["clip"] == {"mode": "agc", "threshold": 1.0, "clipping": 0.01, "eps": 1e-3, "exclude": None}
    assert recipe({"agc": {}}).techniques["agc"] == {"clipping": 0.01, "eps": 1e-3, "exclude": None}
    assert recipe({"agc": {"exclude": ["^hidden/"]}}).techniques["agc"]["exclude"] == ["^hidden/"]
