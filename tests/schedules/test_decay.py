"""PowerDecay, through the `power` builder, against power scheduling in numpy."""

import numpy as np
import pytest

from kerastricks.schedules import learning_rate_at


@pytest.mark.parametrize("options", [{}, {"decay_epochs": 0.5, "power": 2.0}])
def test_power(options, sched, np_power, tol):
    steps = np.arange(60)
    got = learning_rate_at(sched("power", options, 0.3, 10, 6), steps)
    want = np_power(steps, 0.3, options.get("decay_epochs", 1.0) * 10, options.get("power", 1.0))
    np.testing.assert_allclose(got, want, **tol)
