"""``kerastricks ensemble`` and ``kerastricks train --ensemble N`` end to end; bad input: exit 2, one line."""

import json
import shutil

import keras
import numpy as np
import pytest

from kerastricks.cli import main
from kerastricks.recipes import load_recipe
from kerastricks.train import Trainer

TINY = ["--set", "data.name=digits", "--set", "model.name=mlp", "--set", "model.width=8", "--set", "model.depth=1",
        "--set", "train.epochs=1", "--set", "train.batch_size=64", "--set", "train.tensorboard=false",
        "--set", "train.plots=false"]


def overrides(extra=()):
    return [a for a in TINY if a != "--set"] + list(extra)


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Tiny finished runs: seeds 0 and 1, and two runs whose inputs are normalized by their own split."""
    root = tmp_path_factory.mktemp("runs")
    made = {}
    for name, extra in (("a", ["train.seed=0"]), ("b", ["train.seed=1"]),
                        ("std0", ["train.seed=0", "data.normalize=standard"]),
                        ("std1", ["train.seed=1", "data.normalize=standard"])):
        recipe = load_recipe(preset="digits", overrides=overrides(extra))
        Trainer(recipe, out=root / name, verbose=0).fit()
        made[name] = root / name
    return made


def test_ensemble_command(runs, tmp_path, capsys):
    out = tmp_path / "ens"
    code, text, err = run_cli(["ensemble", str(runs["a"]), str(runs["b"]), "--method", "vote", "--out", str(out)],
                              capsys)
    assert code == 0, err
    assert "**ensemble (vote)**" in text and "ece" in text
    report = json.loads((out / "report.json").read_text())
    assert report["method"] == "vote" and report["n_members"] == 2
    members = [json.loads((runs[n] / "report.json").read_text())["test"] for n in ("a", "b")]
    for row, test in zip(report["members"], members):  # each member scores as its own run did
        assert row["test"]["accuracy"] == pytest.approx(test["accuracy"])
    # the written model is the ensemble: `kerastricks evaluate` on the directory gives the report's accuracy
    code, text, _ = run_cli(["evaluate", str(out), "--json"], capsys)
    assert code == 0 and json.loads(text)["accuracy"] == pytest.approx(report["test"]["accuracy"])
    model = keras.saving.load_model(out / "model.keras")
    assert model.count_params() == report["params"] == sum(r["params"] for r in report["members"])
    assert (out / "ensemble.md").read_text().count("\n|") >= 5


def _copy(src, dst, edit=None):
    shutil.copytree(src, dst)
    if edit is not None:
        edit(dst)
    return dst


def _classes(run):
    report = json.loads((run / "report.json").read_text())
    report["dataset"]["num_classes"] = 3
    (run / "report.json").write_text(json.dumps(report))


@pytest.mark.parametrize("case, fragments", [
    ("no_model", ["model.keras", "RUN_DIR"]),
    ("classes", ["class count", "num_classes = 10", "num_classes = 3"]),
    ("test_sets", ["test sets differ", "normalize = standard"]),
    ("one_run", ["at least two runs"]),
    ("twice", ["named twice"]),
    ("out_exists", ["--out", "not empty"]),
])
def test_bad_input_exit_2_one_line(runs, tmp_path, capsys, case, fragments):
    a, b = str(runs["a"]), str(runs["b"])
    out = tmp_path / "out"
    if case == "no_model":
        args = [a, str(_copy(runs["b"], tmp_path / "b", lambda d: (d / "model.keras").unlink()))]
    elif case == "classes":
        args = [a, str(_copy(runs["b"], tmp_path / "b", _classes))]
    elif case == "test_sets":
        args = [str(runs["std0"]), str(runs["std1"])]
    elif case == "one_run":
        args = [a]
    elif case == "twice":
        args = [a, a]
    else:
        out.mkdir()
        (out / "keep.txt").write_text("mine")
        args = [a, b]
    code, text, err = run_cli(["ensemble", *args, "--out", str(out)], capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    for fragment in fragments:
        assert fragment in err
    if case == "out_exists":
        assert [p.name for p in out.iterdir()] == ["keep.txt"]
    else:
        assert not out.exists()  # nothing written


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
