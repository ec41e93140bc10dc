"""`kerastricks train` on transfer recipes: one run across both phases, resumable bit-identically; bad input."""

import csv
from pathlib import Path

import keras
import numpy as np
import pytest

import kerastricks  # noqa: F401  (registers what model.keras refers to)
from kerastricks.cli import main


def save_source(path: Path, input_shape=(8, 8, 1)) -> Path:
    from kerastricks.models import build_model

    keras.utils.set_random_seed(3)
    build_model("cnn2d", input_shape=input_shape, num_outputs=10, options={"width": 4, "depth": 1}).save(path)
    return path


RECIPE = """
[data]
name = "digits"
classes = [9, 4]
train_examples = 48
validation_split = 0.2
[model]
init_from = "{source}"
[optimizer]
name = "adafactor"
learning_rate = 0.01
[schedule]
name = "cosine"
[techniques.agc]
clipping = 0.05
[transfer]
freeze_epochs = 2
unfreeze = "gradual"
lr_mult = 10.0
phase2_learning_rate = 0.005
bn_frozen = false
[train]
epochs = 4
batch_size = 16
monitor = "last"
tensorboard = false
plots = false
"""


def rows(run):
    with (run / "metrics.csv").open() as fh:
        return [{k: v for k, v in row.items() if not k.endswith("_s")} for row in csv.DictReader(fh)]  # no timings


def test_two_phases_are_one_run_resumable_across_the_boundary(tmp_path, train):
    """Adafactor inside AGC, per-group cosine rates, gradual unfreezing, BatchNorm switching to training mode:
    killed while writing the checkpoint of the phase boundary (epoch 2), resumed, bit-identical."""
    source = save_source(tmp_path / "a.keras")
    recipe = tmp_path / "b.toml"
    recipe.write_text(RECIPE.format(source=source))
    reference, resumed = tmp_path / "reference", tmp_path / "resumed"
    uninterrupted = train(str(recipe), "--out", str(reference))
    killed = train(str(recipe), "--out", str(resumed), kill_at="last.npz:2")
    _, err = killed.communicate(timeout=600)
    assert killed.returncode == -9, err[-2000:]
    proc = train("--resume", str(resumed))
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-2000:]
    _, err = uninterrupted.communicate(timeout=600)
    assert uninterrupted.returncode == 0, err[-2000:]
    want = keras.saving.load_model(reference / "model.keras").get_weights()
    got = keras.saving.load_model(resumed / "model.keras").get_weights()
    assert len(got) == len(want) and all(np.array_equal(g, w) for g, w in zip(got, want))
    assert rows(resumed) == rows(reference)
    assert [float(r["phase"]) for r in rows(reference)] == [1, 1, 2, 2]
    assert [float(r["unfrozen_blocks"]) for r in rows(reference)] == [0, 0, 1, 2]  # conv2, then conv1
    source_model, model = keras.saving.load_model(source), keras.saving.load_model(reference / "model.keras")
    for name in ("stage1_conv1_conv", "stage1_conv2_conv"):
        assert not np.array_equal(model.get_layer(name).kernel.numpy(), source_model.get_layer(name).kernel.numpy())


# ---- bad input: exit 2, one line naming file, key, expected, received; nothing written -------------------------
BASE = """
[data]
name = "digits"
[model]
{model}
[train]
epochs = 1
"""


def garbage(root):
    (root / "bad.keras").write_bytes(b"PK not a model")


def notrun(root):
    (root / "somedir").mkdir()


def source(root):
    save_source(root / "a.keras")


def other_shape(root):
    save_source(root / "a.keras", input_shape=(6, 6, 1))


def tiny_weights(root):
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(2)(inputs)).save_weights(root / "tiny.weights.h5")


CASES = [
    ('init_from = "gone.keras"', None, ["model.init_from", "not found", "gone.keras"]),
    ('init_from = "somedir"', notrun, ["model.init_from", "not a finished kerastricks run"]),
    ('init_from = "bad.keras"', garbage, ["model.init_from", "not loadable"]),
    ('init_from = "a.keras"\nreuse = "up_to:stage9"', source, ["model.reuse", "no layer 'stage9'"]),
    ('init_from = "a.keras"\nreuse = "sideways"', source, ["model.reuse", "'all_but_head' or 'up_to:"]),
    ('init_from = "a.keras"', other_shape, ["model.init_from", "input shape", "(8, 8, 1)", "(6, 6, 1)"]),
    ('init_from = "a.keras"\nwidth = 3', source, ["model.width", "has no effect with model.init_from"]),
    ('reuse = "all_but_head"', None, ["model.reuse", "needs model.init_from"]),
    ('init_from = "applications:MobileNetV9"\nweights_file = "tiny.weights.h5"', tiny_weights,
     ["model.init_from", "unknown keras.applications model", "MobileNetV9"]),
    ('init_from = "applications:VGG16"', None, ["model.weights_file", "needs local weights"]),
    ('init_from = "applications:VGG16"\nweights_file = "tiny.weights.h5"', tiny_weights,
     ["model.weights_file", "does not match", "tiny.weights.h5"]),
]


@pytest.mark.parametrize("model, setup, fragments", CASES, ids=[f"case{i}" for i in range(len(CASES))])
def test_bad_transfer_input_is_one_line(model, setup, fragments, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    text = BASE.format(model=model)
    if "applications" in model:
        text = text.replace('name = "digits"', 'name = "npz:img.npz"')
        rng = np.random.default_rng(0)
        np.savez(tmp_path / "img.npz", x_train=rng.random((8, 32, 32, 3)), y_train=np.arange(8) % 2,
                 x_test=rng.random((4, 32, 32, 3)), y_test=np.arange(4) % 2)
    (tmp_path / "r.toml").write_text(text)
    (tmp_path / "runs").mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    code = main(["train", "r.toml", "--runs-root", "runs"])
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "r.toml" in lines[0] or "model.weights_file" in lines[0], lines[0]
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    assert sorted(p.name for p in tmp_path.rglob("*")) == before and not any((tmp_path / "runs").iterdir())
