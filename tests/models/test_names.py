"""The activation and initializer names a recipe may use before Keras is imported: Keras builds every one of them,
and an unknown name is one ConfigError naming the recipe, the key, the names and the closest one."""

import sys

import keras
import numpy as np
import pytest

from kerastricks.errors import ConfigError
from kerastricks.models import blocks
from kerastricks.models.names import ACTIVATIONS, INITIALIZERS
from kerastricks.recipes import load_recipe


def test_lists_are_sorted_unique_and_known_to_keras():
    for names in (ACTIVATIONS, INITIALIZERS):
        assert list(names) == sorted(set(names))
    # Keras's own lists (read from the keras modules when Keras is loaded) hold every name listed here
    assert set(ACTIVATIONS) <= set(blocks.activation_names())
    assert set(INITIALIZERS) <= set(blocks.initializer_names())


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_keras_builds_every_activation(name):
    fn = keras.activations.get(name)  # called as a layer calls it: on the inputs alone
    x = np.linspace(-2.0, 2.0, 8, dtype="float32").reshape(2, 4)
    y = keras.ops.convert_to_numpy(fn(x))
    assert y.shape == ((2, 2) if name == "glu" else x.shape)  # glu gates one half of the features by the other
    assert np.all(np.isfinite(y))


@pytest.mark.parametrize("name", INITIALIZERS)
def test_keras_builds_every_initializer(name):
    shape = (3, 1, 4) if name == "stft" else (4, 4)  # stft makes Conv1D kernels (width, channels, filters)
    values = keras.ops.convert_to_numpy(keras.initializers.get(name)(shape))
    assert values.shape == shape and np.all(np.isfinite(values))


@pytest.mark.parametrize(
    "override, key, names, hint",
    [
        ("model.activation=reelu", "model.activation", ACTIVATIONS, "did you mean 'relu'?"),
        ("model.kernel_initializer=he_normall", "model.kernel_initializer", INITIALIZERS, "did you mean 'he_normal'?"),
        # Keras knows these two, but not by name alone: they need arguments (the model would crash when built)
        ("model.kernel_initializer=constant", "model.kernel_initializer", INITIALIZERS, "did you mean 'stft'?"),
        ("model.activation=threshold", "model.activation", ACTIVATIONS, None),
        ("model.activation=qqqqqqqq", "model.activation", ACTIVATIONS, None),
    ],
)
def test_unknown_names_fail_validation_in_one_line(override, key, names, hint, monkeypatch):
    for keras_loaded in (False, True):  # the list above, or Keras's own list once Keras is loaded
        with monkeypatch.context() as m:
            if not keras_loaded:
                m.delitem(sys.modules, "keras")
            with pytest.raises(ConfigError) as info:
                load_recipe(preset="digits", overrides=[override])
        err = info.value
        assert (err.file, err.key, err.received) == ("preset:digits", key, override.split("=")[1])
        assert err.expected == "one of " + ", ".join(names)
        assert err.hint == hint and "\n" not in err.line()


def test_a_name_keras_knows_but_the_list_lacks_is_accepted_once_keras_is_loaded(monkeypatch):
    monkeypatch.setattr("kerastricks.models.names.ACTIVATIONS", tuple(n for n in ACTIVATIONS if n != "gelu"))
    assert blocks.resolve_activation("gelu") == "gelu"
    monkeypatch.delitem(sys.modules, "keras")
    with pytest.raises(ConfigError, match="unknown activation 'gelu'"):
        blocks.resolve_activation("gelu")
