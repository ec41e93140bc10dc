"""Long-tailed data: CIFAR-LT counts, the subset, the recipe's [data] long_tail, errors."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.data import (
    class_counts,
    load_dataset,
    long_tail_counts,
    make_long_tailed,
)
from kerastricks.errors import ConfigError, DataError
from kerastricks.recipes import recipe_from_dict


def test_counts_follow_the_cifar_lt_formula():
    # CIFAR-10-LT, ratio 100 (Cao et al. 2019): n_i = floor(5000 * 100^(-i/9)), written out independently
    expected = [int(5000 * 0.01 ** (i / 9) + 1e-9) for i in range(10)]
    assert long_tail_counts(5000, 10, 100).tolist() == expected
    assert expected[0] == 5000 and expected[-1] == 50
    assert long_tail_counts(7, 3, 1).tolist() == [7, 7, 7]


@settings(max_examples=40, deadline=None)
@given(n_max=st.integers(1, 5000), c=st.integers(2, 50), ratio=st.floats(1, 500))
def test_counts_invariants(n_max, c, ratio):
    counts = long_tail_counts(n_max, c, ratio)
    assert counts[0] == n_max
    assert np.all(np.diff(counts) <= 0) and counts.min() >= 1
    # the tail is n_max / ratio, floored (kept >= 1)
    assert counts[-1] == max(1, int(np.floor(n_max / ratio + 1e-9)))


def test_make_long_tailed_keeps_the_counts_and_is_seeded():
    y = np.repeat(np.arange(4), 30)
    x = np.arange(len(y), dtype=np.float32)[:, None]
    x1, y1 = make_long_tailed(x, y, imbalance_ratio=10, seed=1)
    assert class_counts(y1).tolist() == long_tail_counts(30, 4, 10).tolist() == [30, 13, 6, 3]
    assert np.all(y[x1[:, 0].astype(int)] == y1)  # rows stay paired
    assert np.all(np.diff(x1[:, 0]) > 0)  # original order, no duplicates
    x2, _ = make_long_tailed(x, y, imbalance_ratio=10, seed=1)
    x3, _ = make_long_tailed(x, y, imbalance_ratio=10, seed=2)
    assert np.array_equal(x1, x2) and not np.array_equal(x1, x3)


def test_errors():
    y = np.array([0, 0, 2, 2])
    with pytest.raises(DataError, match="no examples.*class 1"):
        make_long_tailed(np.zeros((4, 1)), y, 2)
    with pytest.raises(DataError, match="class 0 has 2 examples but the long tail needs 5"):
        make_long_tailed(np.zeros((4, 1)), np.array([0, 0, 1, 1]), 2, n_max=5)
    with pytest.raises(ConfigError, match="imbalance_ratio"):
        make_long_tailed(np.zeros((4, 1)), np.array([0, 0, 1, 1]), 0.5)
    with pytest.raises(DataError, match="3 rows"):
        make_long_tailed(np.zeros((3, 1)), np.array([0, 0, 1, 1]), 2)


def test_load_dataset_takes_a_balanced_validation_split_before_the_tail():
    ds = load_dataset("digits", validation_split=0.2, seed=0, long_tail={"imbalance_ratio": 20, "n_max": None})
    train = class_counts(ds.y_train, 10)
    val = class_counts(ds.y_val, 10)
    assert train.max() / train.min() >= 19 and np.all(np.diff(train) <= 0)
    assert val.max() - val.min() <= 2  # stratified from the balanced pool
    test = class_counts(ds.y_test, 10)
    assert test.max() - test.min() <= 3  # untouched
    assert ds.meta["long_tail"]["class_counts"] == train.tolist()


def test_recipe_long_tail_key_is_validated():
    base = {"data": {"name": "digits", "long_tail": {"imbalance_ratio": 10}}}
    recipe = recipe_from_dict(base, source="r.toml")
    assert recipe.data["long_tail"] == {"imbalance_ratio": 10.0, "n_max": None}
    assert "long_tail" not in recipe.data_options
    with pytest.raises(ConfigError, match="data.long_tail.imbalance_ratio"):
        recipe_from_dict({"data": {"name": "digits", "long_tail": {"imbalance_ratio": 0.5}}}, source="r.toml")
    with pytest.raises(ConfigError, match="data.long_tail"):
        recipe_from_dict({"data": {"name": "digits", "long_tail": {"ratio": 10}}}, source="r.toml")
