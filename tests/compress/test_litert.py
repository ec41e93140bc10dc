"""LiteRT conversion: a layer the converter cannot express is one ConfigError line naming it."""

import keras
import pytest

from kerastricks.compress import convert
from kerastricks.errors import ConfigError


def test_a_layer_the_converter_cannot_handle_is_one_config_error():
    class Erfinv(keras.layers.Layer):
        def call(self, x):
            return keras.ops.erfinv(keras.ops.tanh(x) * 0.5)

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(Erfinv(name="odd")(inputs)))
    with pytest.raises(ConfigError) as info:
        convert(model, "none")
    line = info.value.line()
    assert "\n" not in line and "Erfinv" in line and "odd" in line and info.value.key == "model"
