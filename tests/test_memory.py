"""The memory report: state counted per optimizer, and `kerastricks memory`."""

import json

import keras
import numpy as np
import pytest

from kerastricks.cli import main
from kerastricks.memory import compare_optimizers, format_bytes, optimizer_state
from kerastricks.optimizers import AGC, SM3, Adafactor


def model_200x300():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((200,))
    h = keras.layers.Dense(300, name="hidden")(inputs)  # kernel 200x300 (factored at >= 128) + bias 300
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(h))  # kernel 300x10 + bias 10


PARAMS = 200 * 300 + 300 + 300 * 10 + 10


@pytest.mark.parametrize(
    "make, scalars",
    [
        (lambda: keras.optimizers.Adam(), 2 * PARAMS),
        (lambda: keras.optimizers.SGD(momentum=0.9), PARAMS),
        # factored hidden kernel: 200 + 300; everything else (300x10 is not >= 128 on both sides) full
        (lambda: Adafactor(), (200 + 300) + 300 + 300 * 10 + 10),
        (lambda: Adafactor(beta_1=0.9), (200 + 300) + 300 + 300 * 10 + 10 + PARAMS),
        # SM3: sum of dims for kernels, full accumulators for biases
        (lambda: SM3(), (200 + 300) + 300 + (300 + 10) + 10),
        (lambda: AGC(keras.optimizers.Adam()), 2 * PARAMS),
    ],
    ids=["adam", "sgd-momentum", "adafactor", "adafactor-momentum", "sm3", "agc-adam"],
)
def test_optimizer_state_counts(make, scalars):
    model = model_200x300()
    optimizer = make()
    state = optimizer_state(model, optimizer)
    assert state["params"] == PARAMS and state["param_bytes"] == 4 * PARAMS
    assert state["state_scalars"] == scalars and state["state_bytes"] == 4 * scalars
    assert state["bookkeeping_scalars"] == 2  # iteration + learning_rate
    np.testing.assert_allclose(state["ratio"], scalars / PARAMS)
    assert not optimizer.built  # measured on a copy: the caller's optimizer is left as it was


def test_built_optimizer_is_measured_as_is():
    model = model_200x300()
    model.compile(SM3(), "mse")
    model.optimizer.build(model.trainable_variables)
    assert optimizer_state(model, model.optimizer)["state_scalars"] == 500 + 300 + 310 + 10


def test_compare_optimizers_rows():
    rows = compare_optimizers(model_200x300(), SM3(), label="mine")
    names = [r["name"] for r in rows]
    assert names[0] == "mine" and {"adam", "sgd + momentum", "keras_adafactor", "sm3"} <= set(names)
    adam = next(r for r in rows if r["name"] == "adam")
    assert adam["vs_adam"] == 1.0
    keras_adafactor = next(r for r in rows if r["name"] == "keras_adafactor")
    assert keras_adafactor["state_scalars"] >= PARAMS  # Keras keeps a full slot per variable


def test_unbuilt_model_is_rejected():
    model = keras.Sequential([keras.layers.Dense(3)])
    with pytest.raises(ValueError, match="Argument `model` must be built"):
        optimizer_state(model, SM3())


def test_format_bytes():
    assert format_bytes(512) == "512 B" and format_bytes(2048) == "2.0 KiB" and format_bytes(3 * 2**20) == "3.0 MiB"


def test_cli_memory(capsys):
    code = main(["memory", "--preset", "digits", "--set", "optimizer.name=sm3", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    rows = json.loads(out)
    assert rows[0]["name"] == "sm3 (recipe)"
    assert rows[0]["state_scalars"] == next(r for r in rows if r["name"] == "sm3")["state_scalars"]
    code = main(["memory", "--preset", "digits"])
    out, _ = capsys.readouterr()
    assert code == 0 and "vs adam" in out and "keras_adafactor" in out and "trainable parameters" in out


@pytest.mark.parametrize("args, fragment", [
    (["memory", "--preset", "nope"], "unknown preset"),
    (["memory", "--preset", "digits", "--set", "optimizer.name=sm4"], "optimizer.name"),
    (["memory", "--preset", "digits", "--set", "optimizer.name=adafactor", "--set", "optimizer.decay_rate=2.0"],
     "optimizer.decay_rate"),
])
def test_cli_memory_bad_input_exit_2_one_line(args, fragment, capsys):
    code = main(args)
    _, err = capsys.readouterr()
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1
