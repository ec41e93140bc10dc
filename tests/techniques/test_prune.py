"""The ``prune`` technique: exact zeros through a killed and resumed run (bit-identical), its report, and the
recipe errors it raises before any training."""

import json

import keras
import numpy as np
import pytest

from kerastricks.callbacks import RunCheckpoint
from kerastricks.cli import main
from kerastricks.errors import ConfigError
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer


def recipe(**prune):
    return recipe_from_dict({
        "data": {"name": "digits", "validation_split": 0.2},
        "model": {"name": "mlp", "width": 32, "depth": 2},
        "optimizer": {"name": "adamw", "learning_rate": 0.01},
        "train": {"epochs": 3, "batch_size": 64, "tensorboard": False, "plots": False, "monitor": "val_accuracy"},
        "techniques": {"prune": {"final_sparsity": 0.7, "begin_epoch": 0.5, "end_epoch": 2, "frequency": 3,
                                 **prune}},
    }, source="prune.toml")


class Killed(Exception):
    pass


def test_killed_and_resumed_run_is_bit_identical_with_exact_zeros(tmp_path, monkeypatch):
    reference = Trainer(recipe(), out=tmp_path / "reference", verbose=0).fit()
    original = RunCheckpoint.write

    def write_then_die(self, model, epoch):
        original(self, model, epoch)
        if epoch == 1:  # killed mid-pruning: masks and the step counter must come back from the checkpoint
            raise Killed

    monkeypatch.setattr(RunCheckpoint, "write", write_then_die)
    with pytest.raises(Killed):
        Trainer(recipe(), out=tmp_path / "resumed", verbose=0).fit()
    monkeypatch.setattr(RunCheckpoint, "write", original)
    Trainer.resume(tmp_path / "resumed", verbose=0).fit()

    models = [keras.models.load_model(tmp_path / run / "model.keras") for run in ("reference", "resumed")]
    for a, b in zip(*(m.get_weights() for m in models)):
        np.testing.assert_array_equal(a, b)  # bit-identical, wrappers' masks and step counters included
    for model in models:
        for name in ("dense1", "dense2"):
            layer = model.get_layer(f"{name}_pruned")
            mask, kernel = layer.mask.numpy(), layer.layer.kernel.numpy()
            assert (mask == 0).sum() == int(np.floor(np.float32(0.7) * mask.size))
            assert np.all(kernel[mask == 0] == 0)  # exactly zero in the saved model
    report = json.loads((tmp_path / "resumed" / "report.json").read_text())
    notes = report["techniques"]["prune"]
    assert notes["layers"] == ["dense1", "dense2"] and notes["stripped_model"] == "model_stripped.keras"
    assert notes["sparsity"] == pytest.approx(0.7, abs=1 / 1000)
    steps = report["steps_per_epoch"]
    assert notes["begin_step"] == round(0.5 * steps) and notes["end_step"] == 2 * steps
    assert reference.report["test"]["accuracy"] == report["test"]["accuracy"]
    stripped = keras.models.load_model(tmp_path / "resumed" / "model_stripped.keras")
    assert [type(layer).__module__.split(".")[0] for layer in stripped.layers] == ["keras"] * len(stripped.layers)


@pytest.mark.parametrize("options, key, match", [
    ({"end_epoch": 5}, "techniques.prune.end_epoch", "at most train.epochs"),
    ({"begin_epoch": 2.5}, "techniques.prune.begin_epoch", "at most end_epoch"),
    ({"begin_step": 3}, "techniques.prune.begin_step", "one place only"),
    ({"final_sparsity": 1.0}, "techniques.prune.final_sparsity", "< 1"),
    ({"initial_sparsity": 0.5, "final_sparsity": 0.4}, "techniques.prune.final_sparsity", "initial_sparsity"),
    ({"structure": "4:2"}, "techniques.prune.structure", "0 < N < M"),
    ({"structure": "2:4", "scope": "global"}, "techniques.prune.scope", "'layer' with structure"),
])
def test_recipe_errors_name_the_key(options, key, match):
    with pytest.raises(ConfigError, match=match) as info:
        recipe(**options)
    assert info.value.key == key and info.value.file == "prune.toml"


def test_ema_is_refused():
    with pytest.raises(ConfigError, match="not sparse"):
        recipe_from_dict({"data": {"name": "digits"}, "techniques": {"prune": {}, "ema": {}}}, source="r.toml")


def test_a_layer_pattern_that_matches_nothing_exits_2_before_the_run_exists(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text('[data]\nname = "digits"\n[model]\nname = "mlp"\nwidth = 8\ndepth = 1\n'
                    '[train]\nepochs = 1\n[techniques.prune]\nlayers = ["conv*"]\n')
    code = main(["train", str(path), "--out", str(tmp_path / "run"), "--quiet"])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert "techniques.prune.layers" in err[0] and "conv*" in err[0] and "dense1" in err[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("epochs, begin, end", [(15, 1.0, 7.5), (100, 1.0, 50.0), (2, 0.4, 1.0), (1, 0.2, 0.5)])
def test_default_schedule_starts_after_epoch_1_and_ends_at_half_the_run(epochs, begin, end):
    from kerastricks.techniques.prune import Prune

    assert Prune()._epochs(epochs) == pytest.approx((begin, end))   # min(1, 0.2 x epochs), 0.5 x epochs
