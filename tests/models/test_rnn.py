"""GRU and LSTM builders: parameter counts by hand, stacking, bidirectionality, images as rows."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.models import build_model


def recurrent_params(kind, features, units, layers, bidirectional, classes):
    """Parameters written out from the cell equations.

    GRU (Keras default ``reset_after=True``): 3 gates, each with an input
    kernel, a recurrent kernel and two biases (input and recurrent):
    ``3 * (f*u + u*u + 2u)``. LSTM: 4 gates with one bias each:
    ``4 * (f*u + u*u + u)``. A bidirectional layer doubles the parameters and
    its output width.
    """
    directions = 2 if bidirectional else 1
    total, f = 0, features
    for _ in range(layers):
        if kind == "gru":
            per_direction = 3 * (f * units + units * units + 2 * units)
        else:
            per_direction = 4 * (f * units + units * units + units)
        total += directions * per_direction
        f = directions * units
    return total + f * classes + classes


@settings(max_examples=8, deadline=None)
@given(
    kind=st.sampled_from(["gru", "lstm"]),
    features=st.integers(1, 4),
    units=st.integers(1, 6),
    layers=st.integers(1, 2),
    bidirectional=st.booleans(),
)
def test_param_count_matches_cell_equations(kind, features, units, layers, bidirectional):
    model = build_model(
        kind,
        input_shape=(5, features),
        num_outputs=3,
        options={"units": units, "layers": layers, "bidirectional": bidirectional},
    )
    assert model.count_params() == recurrent_params(kind, features, units, layers, bidirectional, 3)


@pytest.mark.parametrize("kind, cls", [("gru", keras.layers.GRU), ("lstm", keras.layers.LSTM)])
def test_stacking_returns_sequences_except_last(kind, cls):
    model = build_model(kind, input_shape=(7, 2), num_outputs=2, options={"units": 3, "layers": 3, "dropout": 0.2})
    recurrent = [layer for layer in model.layers if isinstance(layer, cls)]
    assert [layer.return_sequences for layer in recurrent] == [True, True, False]
    dropouts = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [f"{kind}1_dropout", f"{kind}2_dropout", "head_dropout"]
    assert all(layer.dropout == 0 for layer in recurrent)  # dropout between layers keeps cuDNN usable


def test_bidirectional_concatenates_both_directions():
    model = build_model("gru", input_shape=(7, 2), num_outputs=2, options={"units": 3, "bidirectional": True})
    assert isinstance(model.get_layer("bigru1"), keras.layers.Bidirectional)
    assert model.get_layer("logits").kernel.shape == (6, 2)


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_images_are_read_as_rows(kind):
    model = build_model(kind, input_shape=(8, 8, 1), num_outputs=10, options={"units": 4})
    assert tuple(model.get_layer("rows_as_sequence").output.shape[1:]) == (8, 8)
    assert model.count_params() == recurrent_params(kind, 8, 4, 1, False, 10)


def test_one_dimensional_sequences_get_a_channel():
    model = build_model("lstm", input_shape=(40,), num_outputs=10, options={"units": 4})
    assert tuple(model.get_layer("add_channel").output.shape[1:]) == (40, 1)


def test_output_depends_on_the_whole_sequence():
    # The logits read the final state, so the first time step still matters.
    model = build_model("gru", input_shape=(6, 1), num_outputs=2, options={"units": 4})
    x = np.zeros((1, 6, 1), "float32")
    x2 = x.copy()
    x2[0, 0, 0] = 5.0
    assert not np.allclose(keras.ops.convert_to_numpy(model(x)), keras.ops.convert_to_numpy(model(x2)))
