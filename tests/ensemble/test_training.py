"""``kerastricks train --ensemble N`` (``kerastricks.ensemble.training``): each member a ``kerastricks train`` process,
resumable; bad input: exit 2, one line."""

import json

import numpy as np
import pytest

from kerastricks.cli import main
from kerastricks.recipes import load_recipe
from kerastricks.train import Trainer

TINY = ["--set", "data.name=digits", "--set", "model.name=mlp", "--set", "model.width=8", "--set", "model.depth=1",
        "--set", "train.epochs=1", "--set", "train.batch_size=64", "--set", "train.tensorboard=false",
        "--set", "train.plots=false"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_train_ensemble_members_in_their_own_processes(tmp_path, capsys):
    out = tmp_path / "ens"
    code, text, err = run_cli(["train", "--preset", "digits", *TINY, "--ensemble", "2", "--out", str(out)], capsys)
    assert code == 0, err
    report = json.loads((out / "report.json").read_text())
    assert [r["seed"] for r in report["members"]] == [0, 1] and report["method"] == "mean"
    assert load_recipe(out / "recipe.toml").train.ensemble == 2
    for seed in (0, 1):
        member = load_recipe(out / "members" / f"seed{seed}" / "recipe.toml").train
        assert (member.seed, member.ensemble) == (seed, 1)
    assert report["fit_time_s"] > 0 and report["epochs_run"] == 2
    # a killed ensemble resumes: finished members are kept, the ensemble is made again, identically
    before = np.array(report["test"]["accuracy"])
    (out / "report.json").unlink()
    (out / "model.keras").unlink()
    code, text, err = run_cli(["train", "--resume", str(out)], capsys)
    assert code == 0, err
    assert text.count("finished before, kept") == 2
    assert json.loads((out / "report.json").read_text())["test"]["accuracy"] == before


def test_train_ensemble_bad_input(tmp_path, capsys):
    # members normalized by their own (seed-dependent) split would not share a test set: refused before training
    code, _, err = run_cli(["train", "--preset", "digits", *TINY, "--set", "data.normalize=standard",
                            "--ensemble", "2", "--out", str(tmp_path / "e")], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "train.ensemble" in err and "normalize" in err and not (tmp_path / "e").exists()
    with pytest.raises(SystemExit) as exc:
        main(["train", "--preset", "digits", "--ensemble", "0"])
    assert exc.value.code == 2 and "positive integer" in capsys.readouterr().err
    with pytest.raises(Exception, match="train.ensemble"):
        Trainer(load_recipe(preset="digits", overrides=["train.ensemble=3"]), write=False)
