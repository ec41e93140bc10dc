"""``ScaledLearningRate`` (``kerastricks.schedules.scaled``): ``scale * schedule(step)`` against numpy, its config
round trip (the inner schedule serialized), and argument checks."""

import keras
import numpy as np
import pytest

from kerastricks.schedules import ScaledLearningRate


def test_scaled_rate_is_the_schedule_times_the_constant():
    inner = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=10, decay_rate=0.5)
    scaled = ScaledLearningRate(inner, 0.3)
    steps = np.array([0, 1, 7, 10, 25])
    want = 0.3 * 0.1 * 0.5 ** (steps / 10)  # ExponentialDecay, not staircase: lr0 * rate^(step / decay_steps)
    got = [float(scaled(int(s))) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-6)  # float32 arithmetic


def test_config_round_trip_and_serialization():
    scaled = ScaledLearningRate(keras.optimizers.schedules.PiecewiseConstantDecay([5], [0.1, 0.01]), 2.0)
    config = scaled.get_config()
    revived = ScaledLearningRate.from_config(config)
    assert revived.get_config() == config and isinstance(config["schedule"], dict)
    again = keras.optimizers.schedules.deserialize(keras.optimizers.schedules.serialize(scaled))
    assert type(again) is ScaledLearningRate
    assert [float(again(s)) for s in (0, 6)] == pytest.approx([0.2, 0.02], rel=1e-6)


@pytest.mark.parametrize(("schedule", "scale", "word"), [(0.1, 1.0, "schedule"), (None, 0.0, "scale"),
                                                          (None, -1.0, "scale")])
def test_arguments_are_checked(schedule, scale, word):
    schedule = schedule if schedule is not None else keras.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    with pytest.raises(ValueError, match=f"Argument `{word}`.*Received: {word}="):
        ScaledLearningRate(schedule, scale)
