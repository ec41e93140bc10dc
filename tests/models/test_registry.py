"""The model registry, build_model, option validation, and one conformance table for every model."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.models import (
    INPUT_KINDS,
    MODELS,
    build_model,
    describe_models,
    register_model,
    validate_model_options,
)
from kerastricks.validation import PositiveInt

SEQUENCE = (40, 1)
IMAGE = (8, 8, 1)
NUM_OUTPUTS = 3

# Tiny options per built-in model, so the whole table runs in seconds.
TINY = {
    "mlp": {"width": 8, "depth": 2},
    "cnn1d": {"width": 4, "depth": 2},
    "mnist1d_cnn": {"channels": 4},
    "cnn2d": {"width": 4, "depth": 2, "convs_per_stage": 1},
    "resnet": {"depth": 8, "width": 4},
    "gru": {"units": 4},
    "lstm": {"units": 4},
}
SHAPES = {"any": [SEQUENCE, IMAGE], "sequence": [SEQUENCE], "image": [IMAGE]}
CASES = [
    pytest.param(name, shape, id=f"{name}-{'x'.join(map(str, shape))}")
    for name in TINY
    for shape in SHAPES[MODELS.get(name).meta["input_kind"]]
]


def _build(name, shape, **kwargs):
    return build_model(name, input_shape=shape, num_outputs=NUM_OUTPUTS, options=TINY[name], **kwargs)


def _batch(shape, n=4, seed=0):
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


# --------------------------------------------------------------------------- registry


def test_every_builtin_model_is_in_the_table():
    assert set(TINY) <= set(MODELS.names())


@pytest.mark.parametrize("name", list(TINY))
def test_entries_have_description_and_input_kind(name):
    entry = MODELS.get(name)
    assert entry.description and "\n" not in entry.description
    assert entry.meta["input_kind"] in INPUT_KINDS


def test_describe_models_lists_defaults():
    rows = {row["name"]: row for row in describe_models()}
    assert set(TINY) <= set(rows)
    assert rows["resnet"]["options"]["depth"] == 20
    assert rows["resnet"]["input_kind"] == "image"
    assert rows["mlp"]["options"]["width"] == 256
    # Filled by kerastricks, never recipe options:
    for row in rows.values():
        assert not {"input_shape", "num_outputs", "task", "kernel_regularizer"} & set(row["options"])


def test_numpy_integer_shapes_are_accepted():
    model = build_model("mlp", input_shape=np.array([5, 2]), num_outputs=np.int64(3), options={"width": 2})
    assert tuple(model.output.shape) == (None, 3)


def test_lookup_is_case_insensitive():
    model = build_model("ResNet", input_shape=IMAGE, num_outputs=2, options={"depth": 8, "width": 2})
    assert model.name == "resnet8"


# --------------------------------------------------------------------------- conformance


@pytest.mark.parametrize("name, shape", CASES)
def test_builds_functional_float32_logits(name, shape):
    model = _build(name, shape)
    assert isinstance(model, keras.Model)
    # Functional (a graph of layers, rebuildable by clone_model), not a subclass.
    assert {"layers", "input_layers", "output_layers"} <= set(model.get_config())
    assert model.layers[-1].name == "logits"
    y = model(_batch(shape), training=False)
    assert tuple(y.shape) == (4, NUM_OUTPUTS)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


@pytest.mark.parametrize("name, shape", CASES)
def test_fit_one_step(name, shape):
    model = _build(name, shape)
    model.compile(optimizer="sgd", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x, y = _batch(shape), np.arange(4) % NUM_OUTPUTS
    history = model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("name, shape", CASES)
def test_save_load_equal_outputs(name, shape, tmp_path):
    model = _build(name, shape)
    x = _batch(shape)
    path = tmp_path / f"{name}.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded(x, training=False)),
        keras.ops.convert_to_numpy(model(x, training=False)),
    )


@pytest.mark.parametrize("name, shape", CASES)
def test_clone_model_and_config_round_trip(name, shape):
    model = _build(name, shape)
    x = _batch(shape)
    clone = keras.models.clone_model(model)
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    np.testing.assert_allclose(clone(x, training=False), model(x, training=False), rtol=1e-6, atol=1e-6)

    config = model.get_config()
    rebuilt = keras.Model.from_config(copy.deepcopy(config))  # from_config consumes its argument
    assert rebuilt.get_config() == config
    rebuilt.set_weights(model.get_weights())
    np.testing.assert_allclose(rebuilt(x, training=False), model(x, training=False), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name, shape", CASES)
def test_mixed_precision_keeps_float32_logits(name, shape):
    keras.config.set_dtype_policy("mixed_bfloat16")  # restored by the conftest fixture
    model = _build(name, shape)
    assert model.get_layer("logits").compute_dtype == "float32"
    y = model(_batch(shape), training=False)
    assert keras.backend.standardize_dtype(y.dtype) == "float32"
    assert np.all(np.isfinite(keras.ops.convert_to_numpy(y)))


# Models whose layers go beyond conv/dense/norm: zero-pad shortcuts (Rescaling +
# Concatenate), a bidirectional RNN reading images, PyTorch-style initializers.
FRESH_PROCESS = [
    ("resnet", IMAGE, {"depth": 8, "width": 2, "shortcut": "zero_pad"}),
    ("gru", IMAGE, {"units": 3, "layers": 2, "bidirectional": True}),
    ("mnist1d_cnn", SEQUENCE, {"channels": 3}),
]


def test_saved_models_load_in_a_fresh_process(tmp_path):
    """DESIGN: a saved model loads back in a fresh process (without kerastricks) with equal outputs."""
    expected = {}
    for name, shape, options in FRESH_PROCESS:
        model = build_model(name, input_shape=shape, num_outputs=NUM_OUTPUTS, options=options)
        model.save(tmp_path / f"{name}.keras")
        x = _batch(shape, seed=1)
        np.save(tmp_path / f"{name}-x.npy", x)
        np.save(tmp_path / f"{name}-y.npy", keras.ops.convert_to_numpy(model(x, training=False)))
        expected[name] = True
    script = textwrap.dedent(
        f"""
        import json, os, sys
        os.environ["KERAS_BACKEND"] = "tensorflow"
        import numpy as np, keras
        assert "kerastricks" not in sys.modules
        out = {{}}
        for key in {sorted(expected)!r}:
            model = keras.saving.load_model(os.path.join({str(tmp_path)!r}, key + ".keras"))
            x = np.load(os.path.join({str(tmp_path)!r}, key + "-x.npy"))
            y = np.load(os.path.join({str(tmp_path)!r}, key + "-y.npy"))
            got = keras.ops.convert_to_numpy(model(x, training=False))
            out[key] = bool(np.array_equal(got, y))
        print(json.dumps(out))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == expected


def test_regression_task_has_linear_outputs():
    model = build_model("mlp", input_shape=(5,), num_outputs=2, task="regression", options={"width": 4})
    assert model.get_layer("logits").get_config()["activation"] == "linear"
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(_batch((5,)), _batch((2,)), batch_size=4, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.mark.parametrize("name, shape", CASES)
def test_kernel_regularizer_reaches_every_kernel(name, shape):
    model = _build(name, shape, kernel_regularizer=keras.regularizers.L2(1e-4))
    regularized = [
        layer.name
        for layer in _all_layers(model)
        if getattr(layer, "kernel_regularizer", None) is not None
    ]
    with_kernels = [layer.name for layer in _all_layers(model) if hasattr(layer, "kernel_regularizer")]
    assert regularized == with_kernels and regularized
    model(_batch(shape), training=False)
    assert len(model.losses) == len(regularized)


def _all_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            yield layer.forward_layer
            yield layer.backward_layer
        else:
            yield layer


# --------------------------------------------------------------------------- validation


def test_validate_model_options_coerces_without_building():
    assert validate_model_options("resnet", {"depth": "32", "norm": "none"}) == {"depth": 32, "norm": "none"}
    assert validate_model_options("mlp") == {}


def _error(name="mlp", shape=SEQUENCE, options=None, **kwargs):
    with pytest.raises(ConfigError) as info:
        build_model(name, input_shape=shape, num_outputs=3, options=options, file="recipe.toml", **kwargs)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith("recipe.toml: ")
    return info.value, line


def test_unknown_model_suggests_closest():
    error, line = _error("resent", IMAGE)
    assert error.key == "model.name"
    assert "did you mean 'resnet'?" in line


def test_unknown_option_suggests_closest():
    error, line = _error("resnet", IMAGE, {"dept": 20})
    assert error.key == "model.dept"
    assert "did you mean 'depth'?" in line


@pytest.mark.parametrize(
    "name, options, key",
    [
        ("mlp", {"width": 0}, "model.width"),
        ("mlp", {"dropout": 1.0}, "model.dropout"),
        ("cnn2d", {"depth": -1}, "model.depth"),
        ("gru", {"units": 0}, "model.units"),
        ("cnn1d", {"downsample": "maxx"}, "model.downsample"),
        ("cnn1d", {"width_multiplier": 0.0}, "model.width_multiplier"),
        ("resnet", {"shortcut": "B"}, "model.shortcut"),
    ],
)
def test_out_of_range_values(name, options, key):
    shape = IMAGE if MODELS.get(name).meta["input_kind"] == "image" else SEQUENCE
    error, line = _error(name, shape, options)
    assert error.key == key
    assert key in line


@pytest.mark.parametrize(
    "options, key, suggestion",
    [
        ({"activation": "reelu"}, "model.activation", "relu"),
        ({"kernel_initializer": "he_normall"}, "model.kernel_initializer", "he_normal"),
        ({"norm": "bacth"}, "model.norm", "batch"),
    ],
)
def test_unknown_activation_initializer_norm(options, key, suggestion):
    error, line = _error("mlp", SEQUENCE, options)
    assert error.key == key
    assert f"did you mean '{suggestion}'?" in line


def test_unknown_conv_kind():
    error, line = _error("cnn2d", IMAGE, {"conv": "plian"})
    assert error.key == "model.conv"
    assert "did you mean 'plain'?" in line


@pytest.mark.parametrize("name", ["cnn1d", "mnist1d_cnn"])
def test_sequence_models_reject_images(name):
    error, line = _error(name, IMAGE, TINY[name])
    assert error.key == "model.name"
    assert "(length, channels)" in line and "(8, 8, 1)" in line


@pytest.mark.parametrize("name", ["cnn2d", "resnet"])
def test_image_models_reject_sequences_of_the_wrong_rank(name):
    error, line = _error(name, (4, 4, 4, 1), TINY[name])
    assert error.key == "model.name"
    assert "(height, width, channels)" in line


def test_bad_resnet_depth():
    error, line = _error("resnet", IMAGE, {"depth": 21})
    assert error.key == "model.depth"
    assert "6n+2 (20, 32, 56, ...)" in line and "21" in line


@pytest.mark.parametrize(
    "kwargs, key",
    [
        ({"task": "ranking"}, "task"),
        ({"input_shape": (40, 0)}, "input_shape"),
        ({"input_shape": (None, 1)}, "input_shape"),
        ({"input_shape": ()}, "input_shape"),
        ({"num_outputs": 0}, "num_outputs"),
        ({"kernel_regularizer": "l3"}, "kernel_regularizer"),
    ],
)
def test_bad_build_arguments(kwargs, key):
    args = {"input_shape": SEQUENCE, "num_outputs": 3, **kwargs}
    with pytest.raises(ConfigError) as info:
        build_model("mlp", **args)
    assert info.value.key == key
    assert "\n" not in str(info.value)


# --------------------------------------------------------------------------- user models


def _tiny_builder(input_shape, num_outputs, task="classification", *, units: PositiveInt = 2):
    """A user model: flatten, one hidden layer."""
    inputs = keras.Input(input_shape)
    x = keras.layers.Dense(units, activation="relu")(keras.layers.Flatten()(inputs))
    outputs = keras.layers.Dense(num_outputs, name="logits", dtype="float32")(x)
    return keras.Model(inputs, outputs)


def test_register_model_as_decorator_builds_and_validates():
    register_model("test-user-tiny", description="a user model", input_kind="any")(_tiny_builder)
    model = build_model("test_user_tiny", input_shape=(5,), num_outputs=2, options={"units": 3})
    assert model.count_params() == 5 * 3 + 3 + 3 * 2 + 2
    with pytest.raises(ConfigError, match="model.units"):
        build_model("test_user_tiny", input_shape=(5,), num_outputs=2, options={"units": 0})
    # The builder takes no kernel_regularizer: say so instead of ignoring it.
    with pytest.raises(ConfigError, match="kernel_regularizer"):
        build_model("test_user_tiny", input_shape=(5,), num_outputs=2, kernel_regularizer="l2")


def test_register_model_rejects_bad_builders():
    with pytest.raises(TypeError, match="input_shape"):
        register_model("test-no-shape", lambda num_outputs, task: None, description="bad")
    with pytest.raises(ValueError, match="input_kind"):
        register_model("test-bad-kind", _tiny_builder, description="bad", input_kind="video")
    with pytest.raises(ValueError, match="already registered"):
        register_model("mlp", _tiny_builder, description="duplicate")
