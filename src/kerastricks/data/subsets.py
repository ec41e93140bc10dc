"""Task subsets of a classification dataset: some of its classes, a few training examples.

``[data] classes = [3, 8]`` keeps two classes (relabelled 0 and 1 in that order, names kept) and
``[data] train_examples = 200`` keeps a stratified, seeded draw of 200 training examples: the task B
of a transfer-learning experiment (a model trained on the other classes, fine-tuned on few examples).
Both run after the validation split and the normalization (:func:`kerastricks.data.load_dataset`), so
the inputs are scaled as for the full dataset (what a model trained on its other classes saw) and the
validation split is the one the full dataset would have; validation and test are filtered to the kept
classes, never subsampled.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kerastricks.data.base import Dataset
from kerastricks.errors import ConfigError


def _keep(x: np.ndarray | None, y: np.ndarray | None, classes: Sequence[int]):
    if x is None:
        return None, None
    mask = np.isin(y, classes)
    lookup = np.full(int(max(classes)) + 1, -1, dtype=np.int32)
    lookup[np.asarray(classes)] = np.arange(len(classes), dtype=np.int32)
    return x[mask], lookup[y[mask]]


def check_subset_keys(classes: Sequence[int] | None, file: str | None = None) -> None:
    """The check of ``[data] classes`` that needs no data: at least two distinct indices."""
    if classes is not None and (len(classes) < 2 or len(set(classes)) != len(classes)):
        raise ConfigError(file=file, key="data.classes", expected="at least two distinct class indices",
                          received=list(classes))


def select_classes(ds: Dataset, classes: Sequence[int], *, file: str | None = None) -> Dataset:
    """Keep the examples of ``classes`` in every split, relabelled ``0..k-1`` in the order given.

    Raises:
        ConfigError: (key ``data.classes``) regression data, fewer than two or repeated classes, or a
            class the dataset does not have.
    """
    classes = [int(c) for c in classes]
    if ds.task != "classification":
        raise ConfigError("class subsets need classification data", file=file, key="data.classes",
                          expected="a classification dataset", received=ds.task)
    if len(classes) < 2 or len(set(classes)) != len(classes):
        raise ConfigError(file=file, key="data.classes", expected="at least two distinct class indices",
                          received=classes)
    bad = [c for c in classes if c >= int(ds.num_classes)]
    if bad:
        raise ConfigError(f"dataset '{ds.name}' has {ds.num_classes} classes", file=file, key="data.classes",
                          expected=f"indices in 0..{int(ds.num_classes) - 1}", received=classes)
    x_tr, y_tr = _keep(ds.x_train, ds.y_train, classes)
    x_val, y_val = _keep(ds.x_val, ds.y_val, classes)
    x_te, y_te = _keep(ds.x_test, ds.y_test, classes)
    names = ds.class_names or [str(i) for i in range(int(ds.num_classes))]
    return Dataset(name=ds.name, x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val, x_test=x_te, y_test=y_te,
                   task=ds.task, num_classes=len(classes), class_names=[names[c] for c in classes],
                   meta={**ds.meta, "classes": classes})


def stratified_counts(counts: np.ndarray, n: int) -> np.ndarray:
    """How many examples of each class a stratified draw of ``n`` takes: proportional shares, the
    remainders going to the largest fractional parts (ties: the lower class), every present class at
    least one when ``n`` allows."""
    counts = np.asarray(counts, dtype=np.int64)
    share = counts * n / counts.sum()
    take = np.floor(share).astype(np.int64)
    order = np.lexsort((np.arange(len(counts)), -(share - take)))
    for i in order[: n - int(take.sum())]:
        take[i] += 1
    present = np.flatnonzero(counts > 0)
    for i in present:  # a class that rounds to 0 borrows from the largest take
        if take[i] == 0 and n >= len(present):
            take[np.argmax(take)] -= 1
            take[i] = 1
    return np.minimum(take, counts)


def subsample_train(ds: Dataset, n: int, seed: int, *, file: str | None = None) -> Dataset:
    """Keep a stratified draw of ``n`` training examples (seeded by ``seed``; order kept)."""
    total = len(ds.y_train)
    if n > total:
        raise ConfigError(f"the training split has {total} examples", file=file, key="data.train_examples",
                          expected=f"at most {total}", received=n)
    if ds.task == "classification":
        counts = np.bincount(ds.y_train, minlength=int(ds.num_classes))
        if n < int((counts > 0).sum()):
            raise ConfigError("too few to keep every class", file=file, key="data.train_examples",
                              expected=f"at least {int((counts > 0).sum())} (one per class)", received=n)
        take = stratified_counts(counts, n)
        rng = np.random.default_rng(seed)
        idx = np.concatenate([rng.choice(np.flatnonzero(ds.y_train == c), size=int(k), replace=False)
                              for c, k in enumerate(take) if k])
    else:
        idx = np.random.default_rng(seed).choice(total, size=n, replace=False)
    idx = np.sort(idx)
    return Dataset(name=ds.name, x_train=ds.x_train[idx], y_train=ds.y_train[idx], x_val=ds.x_val, y_val=ds.y_val,
                   x_test=ds.x_test, y_test=ds.y_test, task=ds.task, num_classes=ds.num_classes,
                   class_names=ds.class_names, meta={**ds.meta, "train_examples": int(n), "subset_seed": int(seed)})


__all__ = ["check_subset_keys", "select_classes", "stratified_counts", "subsample_train"]
