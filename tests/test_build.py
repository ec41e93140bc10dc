"""Recipe -> dataset, model, optimizer, loss: the subsets of [data], the phases in their order, steps per epoch."""

import math

import numpy as np
import pytest
from _helpers import small

from kerastricks.build import build_components, load_recipe_dataset
from kerastricks.techniques import Technique, TrainContext


def test_data_threads_give_the_training_pipeline_a_private_pool():
    from kerastricks.train import TrainContext, build_components

    recipe = small(data={"name": "digits", "validation_split": 0.2, "threads": 1})
    parts = build_components(recipe, TrainContext.for_recipe(recipe), [])
    assert parts.train_ds.options().threading.private_threadpool_size == 1


def test_class_subset_and_training_examples_are_drawn_from_the_seeded_split():
    full = load_recipe_dataset(small())
    subset = load_recipe_dataset(small(data={"classes": [7, 3], "train_examples": 40}))
    assert len(subset.y_train) == 40 and subset.num_classes == 2
    assert subset.class_names == [full.class_names[7], full.class_names[3]]
    # relabelled in the order given: every kept training row is a row of its original class in the full split
    for new, old in ((0, 7), (1, 3)):
        rows = {r.tobytes() for r in full.x_train[full.y_train == old]}
        assert all(r.tobytes() in rows for r in subset.x_train[subset.y_train == new])
    assert abs(int(np.sum(subset.y_train == 0)) - 20) <= 1  # stratified: about half each
    # validation and test keep every example of the two classes
    assert len(subset.y_test) == int(np.isin(full.y_test, [3, 7]).sum())
    again = load_recipe_dataset(small(data={"classes": [7, 3], "train_examples": 40}))
    np.testing.assert_array_equal(again.x_train, subset.x_train)  # the same seed draws the same examples
    other = load_recipe_dataset(small(data={"classes": [7, 3], "train_examples": 40}, train={"seed": 1}))
    assert not np.array_equal(other.x_train, subset.x_train)


class Recorder(Technique):
    """Records the hooks the builder calls, in order, and hands back what it got."""

    name = "recorder"

    def __init__(self, calls):
        self.calls = calls

    def _seen(self, hook, value):
        self.calls.append(hook)
        return value

    def apply_to_data(self, dataset, ctx):
        return self._seen("data", dataset)

    def pipeline_stages(self, ctx):
        return self._seen("pipeline_stages", {})

    def apply_to_pipeline(self, ds, ctx):
        return self._seen("pipeline", ds)

    def model_options(self, options, ctx):
        return self._seen("model_options", options)

    def apply_to_model(self, model, ctx):
        return self._seen("model", model)

    def optimizer_options(self, options, ctx):
        return self._seen("optimizer_options", options)

    def apply_to_optimizer(self, optimizer, ctx):
        return self._seen("optimizer", optimizer)

    def apply_to_loss(self, loss, ctx):
        return self._seen("loss", loss)


@pytest.mark.parametrize("n, batch, execution", [(100, 32, 3), (90, 16, 1)])
def test_phases_run_in_order_and_an_epoch_is_whole_executions(n, batch, execution):
    calls = []
    recipe = small(data={"train_examples": n}, train={"batch_size": batch, "steps_per_execution": execution})
    ctx = TrainContext.for_recipe(recipe)
    parts = build_components(recipe, ctx, [Recorder(calls), Recorder(calls)])
    assert calls == [h for h in ("data", "pipeline_stages", "pipeline", "model_options", "model",
                                 "optimizer_options", "optimizer", "loss") for _ in range(2)]
    batches = math.ceil(n / batch)
    # the smallest multiple of steps_per_execution that covers the batches of one pass over the data
    want = next(k for k in range(batches, batches + execution) if k % execution == 0)
    assert ctx.steps_per_epoch == want and parts.n_train == n
    assert parts.model.optimizer is parts.optimizer and parts.val_ds is not None
    assert ctx.dataset is parts.dataset and len(ctx.techniques) == 2
