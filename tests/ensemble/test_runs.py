"""``kerastricks ensemble RUN_DIR...`` (``kerastricks.ensemble.runs``) end to end; bad input: exit 2, one line."""

import json
import shutil

import keras
import pytest

from kerastricks.cli import main
from kerastricks.recipes import load_recipe
from kerastricks.train import Trainer

#: A tiny digits run, as ``--set`` overrides.
TINY = ["data.name=digits", "model.name=mlp", "model.width=8", "model.depth=1", "train.epochs=1",
        "train.batch_size=64", "train.tensorboard=false", "train.plots=false"]


def overrides(extra=()):
    return TINY + list(extra)


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
