"""Task subsets (``kerastricks.data.subsets``): kept classes relabelled in the order given, a stratified seeded
draw of training examples, and the one-line refusals; checked against numpy selections written here."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kerastricks.data.base import Dataset
from kerastricks.data.subsets import check_subset_keys, select_classes, stratified_counts, subsample_train
from kerastricks.errors import ConfigError


def toy(n=60, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    split = lambda m: (rng.normal(size=(m, 3)).astype("float32"), rng.integers(0, classes, m).astype("int32"))  # noqa: E731
    (xt, yt), (xv, yv), (xs, ys) = split(n), split(n // 3), split(n // 3)
    return Dataset(name="toy", x_train=xt, y_train=yt, x_val=xv, y_val=yv, x_test=xs, y_test=ys,
                   task="classification", num_classes=classes, class_names=list("abcd")[:classes], meta={})


def test_select_classes_keeps_and_relabels_every_split():
    ds = toy()
    kept = select_classes(ds, [3, 1])
    assert kept.num_classes == 2 and kept.class_names == ["d", "b"] and kept.meta["classes"] == [3, 1]
    for split in ("train", "val", "test"):
        x, y = getattr(kept, f"x_{split}"), getattr(kept, f"y_{split}")
        x0, y0 = getattr(ds, f"x_{split}"), getattr(ds, f"y_{split}")
        mask = (y0 == 3) | (y0 == 1)  # the numpy selection, order kept
        np.testing.assert_array_equal(x, x0[mask])
        np.testing.assert_array_equal(y, np.where(y0[mask] == 3, 0, 1))


@pytest.mark.parametrize(("classes", "words"), [([1], "at least two"), ([1, 1], "at least two"),
                                                 ([0, 7], "0..3")])
def test_select_classes_refusals_name_the_key(classes, words):
    with pytest.raises(ConfigError, match="data.classes") as info:
        select_classes(toy(), classes, file="r.toml")
    assert words in info.value.line() and "\n" not in info.value.line()
    if len(set(classes)) < 2:
        with pytest.raises(ConfigError, match="data.classes"):
            check_subset_keys(classes)
    check_subset_keys(None)  # no subset: nothing to check


@settings(deadline=None, max_examples=60)
@given(counts=st.lists(st.integers(0, 50), min_size=2, max_size=8).filter(lambda c: sum(c) > 0), data=st.data())
def test_stratified_counts_are_proportional_shares(counts, data):
    counts = np.array(counts)
    n = data.draw(st.integers(0, int(counts.sum())))
    take = stratified_counts(counts, n)
    present = counts > 0
    assert take.sum() == n and np.all(take <= counts) and np.all(take[~present] == 0)
    share = counts * n / counts.sum()
    if n >= present.sum():  # every present class gets one, borrowed from the largest take when it rounds to 0
        assert np.all(take[present] >= 1)
        assert np.all(np.abs(take - share) < 1 + present.sum())
    else:  # largest remainders: each class within one of its exact share
        assert np.all(np.abs(take - share) < 1)


def test_subsample_train_is_stratified_seeded_and_ordered():
    ds = toy(n=200)
    sub = subsample_train(ds, 40, seed=3)
    counts = np.bincount(ds.y_train, minlength=4)
    np.testing.assert_array_equal(np.bincount(sub.y_train, minlength=4), stratified_counts(counts, 40))
    rows = [int(np.flatnonzero((ds.x_train == x).all(axis=1))[0]) for x in sub.x_train]
    assert rows == sorted(rows) and len(set(rows)) == 40  # distinct training rows, order kept
    np.testing.assert_array_equal(sub.y_train, ds.y_train[rows])
    np.testing.assert_array_equal(subsample_train(ds, 40, seed=3).x_train, sub.x_train)  # same seed, same draw
    assert not np.array_equal(subsample_train(ds, 40, seed=4).x_train, sub.x_train)
    assert sub.x_test is ds.x_test and sub.meta["train_examples"] == 40  # validation and test untouched
    with pytest.raises(ConfigError, match="data.train_examples.*at most 200"):
        subsample_train(ds, 201, seed=0)
    with pytest.raises(ConfigError, match="data.train_examples.*one per class"):
        subsample_train(ds, 3, seed=0)
