"""The recipe workflow: a transferred model's phases, frozen weights, BatchNorm modes, group rates."""

import keras
import numpy as np
import pytest

from kerastricks.build import build_components
from kerastricks.recipes import recipe_from_toml
from kerastricks.runtime import prepared
from kerastricks.techniques import TrainContext
from kerastricks.transfer.core import group_learning_rates, group_multipliers


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """A zoo CNN with BatchNorm for the 8x8 digits, saved as a .keras file (its own random weights)."""
    from kerastricks.models import build_model

    keras.utils.set_random_seed(1)
    model = build_model("cnn2d", input_shape=(8, 8, 1), num_outputs=10, options={"width": 4, "depth": 2})
    path = tmp_path_factory.mktemp("source") / "a.keras"
    model.save(path)
    return path


def recipe(path, **transfer):
    table = "\n".join(f"{k} = {v!r}".replace("'", '"').replace("True", "true").replace("False", "false")
                      for k, v in transfer.items())
    return recipe_from_toml(f"""
[data]
name = "digits"
classes = [8, 9]
train_examples = 40
[model]
init_from = "{path}"
[optimizer]
name = "sgd"
learning_rate = 0.1
[transfer]
{table}
[train]
epochs = 4
batch_size = 16
plots = false
tensorboard = false
""")


class Snapshots(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs.append({v.path: keras.ops.convert_to_numpy(v).copy() for v in self.model.variables})


def run(rec):
    with prepared(rec.train) as runtime:
        ctx = TrainContext.for_recipe(rec)
        parts = build_components(rec, ctx, rec.build_techniques(), jit=runtime.jit)
        snaps = Snapshots()
        parts.model.fit(parts.train_ds, epochs=parts.epochs, steps_per_epoch=ctx.steps_per_epoch,
                        callbacks=[*parts.schedule_callbacks, snaps], verbose=0)
        return parts, ctx, snaps.epochs


def layer_values(path):
    model = keras.models.load_model(path, compile=False)
    return {layer.name: {w.path.split("/", 1)[1]: keras.ops.convert_to_numpy(w) for w in layer.weights}
            for layer in model.layers}


@pytest.mark.parametrize("bn_frozen", [True, False])
def test_phases_freeze_unfreeze_and_rates(source, bn_frozen):
    rec = recipe(source, freeze_epochs=2, unfreeze="gradual", lr_mult=4.0, phase2_learning_rate=0.05,
                 bn_frozen=bn_frozen)
    parts, ctx, epochs = run(rec)
    plan, original = ctx.transfer, layer_values(source)
    reused = plan.groups[:-1]
    n = len(reused)  # one block per convolution (with its norm): two per cnn2d stage
    assert n == 4 and plan.unfreeze_epoch == [6, 5, 4, 3, 2][-n:] + [0]  # gradual: the top block first

    def changed(epoch, group, kind):
        """Whether any variable of ``kind`` ("kernel" / "moving") of a reused group moved by ``epoch``."""
        out = []
        for name in reused[group]:
            for var, value in original[name].items():
                if kind in var:
                    out.append(not np.array_equal(epochs[epoch][f"{name}/{var}"], value))
        assert out, (group, kind)
        return any(out)

    for epoch in (0, 1):  # phase 1: every reused weight and BatchNorm statistic bit-unchanged
        assert not any(changed(epoch, g, k) for g in range(n) for k in ("kernel", "gamma", "moving"))
    assert not np.array_equal(epochs[1]["logits/kernel"], epochs[0]["logits/kernel"])  # the head trains
    assert changed(2, 3, "kernel") and changed(2, 3, "gamma") and not changed(2, 2, "kernel")
    assert changed(3, 2, "kernel") and not changed(3, 1, "kernel")  # the lower blocks never unfreeze
    assert not parts.model.get_layer(reused[0][0]).trainable
    assert changed(3, 3, "moving") == (not bn_frozen)  # BatchNorm statistics frozen as configured
    # each trained group's effective rate = phase-2 rate x its multiplier; the head x 1
    mult = group_multipliers(n + 1, 4.0)
    np.testing.assert_allclose(group_learning_rates(parts.optimizer), [0.05 * m for m in mult[-3:]], rtol=1e-6)
    cols = [plan.columns(e) for e in range(4)]
    assert [c["phase"] for c in cols] == [1, 1, 2, 2] and [c["unfrozen_blocks"] for c in cols] == [0, 0, 1, 2]


def test_linear_probe_trains_only_the_head(source):
    parts, ctx, epochs = run(recipe(source, freeze_epochs=4))
    assert [v.path for v in parts.model.trainable_variables] == ["logits/kernel", "logits/bias"]
    original = layer_values(source)
    for name, values in original.items():
        if name != "logits" and name in [layer.name for layer in parts.model.layers]:
            for var, value in values.items():
                np.testing.assert_array_equal(epochs[-1][f"{name}/{var}"], value)


def test_applications_backbone_from_a_local_weights_file(tmp_path, monkeypatch):
    """keras.applications built offline (weights=None), its weights saved locally, fine-tuned via a recipe."""
    from kerastricks.train import Trainer

    monkeypatch.chdir(tmp_path)
    keras.utils.set_random_seed(2)
    backbone = keras.applications.VGG16(include_top=False, weights=None, input_shape=(32, 32, 3))
    backbone.save_weights("vgg.weights.h5")
    rng = np.random.default_rng(0)
    x = rng.random((48, 32, 32, 3)).astype("float32")
    y = (x[:, :16].mean(axis=(1, 2, 3)) > x[:, 16:].mean(axis=(1, 2, 3))).astype("int32")
    np.savez("img.npz", x_train=x[:32], y_train=y[:32], x_test=x[32:], y_test=y[32:])
    rec = recipe_from_toml("""
[data]
name = "npz:img.npz"
validation_split = 0.0
[model]
init_from = "applications:VGG16"
weights_file = "vgg.weights.h5"
reuse = "up_to:block1_pool"
[transfer]
freeze_epochs = 1
[train]
epochs = 2
batch_size = 16
monitor = "last"
plots = false
tensorboard = false
""")
    result = Trainer(rec, out="run", verbose=0).fit()
    conv = result.model.get_layer("block1_conv1").kernel
    assert not np.array_equal(keras.ops.convert_to_numpy(conv), backbone.get_layer("block1_conv1").kernel.numpy())
    assert [row["phase"] for row in result.history] == [1, 2]
    assert result.report["transfer"]["blocks"] == 2 and (tmp_path / "run" / "model.keras").is_file()
    names = [layer.name for layer in result.model.layers]
    assert "block2_conv1" not in names and names[-1] == "logits"
