"""`kerastricks lr-find`: suggestion printed, plot + JSON written, --apply never overwrites."""

import json

from kerastricks.cli import main
from kerastricks.recipes import load_recipe

RECIPE = """
[data]
name = "digits"
[model]
name = "mlp"
width = 16
depth = 1
[optimizer]
name = "adam"
learning_rate = 0.001
[train]
epochs = 2
batch_size = 64
"""
SWEEP = ["--num-steps", "25", "--start-lr", "1e-5", "--end-lr", "1.0"]


def test_lr_find_writes_plot_json_and_applied_recipe(tmp_path, capsys):
    path = tmp_path / "r.toml"
    path.write_text(RECIPE)
    out = tmp_path / "out"
    code = main(["lr-find", str(path), "--out", str(out), "--apply", *SWEEP])
    stdout, stderr = capsys.readouterr()
    assert code == 0, stderr
    data = json.loads((out / "lr_find.json").read_text())
    assert (out / "lr_find.png").read_bytes()[:4] == b"\x89PNG"
    assert data["method"] == "minimum" and 1e-5 <= data["suggestion"] <= 1.0
    assert "<- suggestion" in stdout and f"{data['suggestion']:.3g}" in stdout
    applied = load_recipe(out / "recipe.toml")
    assert applied.optimizer["learning_rate"] == float(f"{data['suggestion']:.3g}")
    original = load_recipe(path)
    applied.optimizer["learning_rate"] = original.optimizer["learning_rate"]
    assert applied.to_dict() == original.to_dict()  # nothing else changed

    # Running again into the same directory overwrites nothing: exit 2, one line, files untouched.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    code = main(["lr-find", str(path), "--out", str(out), "--apply", *SWEEP])
    _, stderr = capsys.readouterr()
    assert code == 2 and len(stderr.strip().splitlines()) == 1 and "nothing was overwritten" in stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_apply_to_an_existing_file_fails_before_the_sweep(tmp_path, capsys):
    target = tmp_path / "exists.toml"
    target.write_text("keep me")
    code = main(["lr-find", "--preset", "digits", "--out", str(tmp_path / "o"), "--apply", str(target), *SWEEP])
    _, stderr = capsys.readouterr()
    assert code == 2 and "exists.toml" in stderr and "--apply" in stderr and "\n" not in stderr.strip()
    assert target.read_text() == "keep me" and not (tmp_path / "o").exists()


def test_bad_sweep_arguments_are_one_line_errors(capsys):
    code = main(["lr-find", "--preset", "digits", "--start-lr", "1", "--end-lr", "0.1"])
    _, stderr = capsys.readouterr()
    assert code == 2 and "--end-lr" in stderr and "\n" not in stderr.strip()
