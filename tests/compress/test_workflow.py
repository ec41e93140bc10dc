"""``kerastricks compress`` and a recipe's ``[export]``: a pruned run exported as full-integer int8 LiteRT, checked with
the LiteRT interpreter directly; bad input exits 2 with one line and writes nothing."""

import json
from pathlib import Path

import keras
import numpy as np
import pytest

from kerastricks.cli import main
from kerastricks.pruning import strip_pruning
from kerastricks.recipes import recipe_from_dict
from kerastricks.train import Trainer


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A finished digits run (MLP, pruned to 60% in training)."""
    out = tmp_path_factory.mktemp("compress") / "run"
    recipe = recipe_from_dict({
        "data": {"name": "digits", "validation_split": 0.1},
        "model": {"name": "mlp", "width": 32, "depth": 1},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"epochs": 4, "batch_size": 64, "tensorboard": False, "plots": False},
        "techniques": {"prune": {"final_sparsity": 0.6, "begin_epoch": 0.5, "end_epoch": 2}},
    }, source="digits-pruned.toml")
    Trainer(recipe, out=out, verbose=0).fit()
    return out


def snapshot(root: Path) -> dict:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def interpreter_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Reference: the LiteRT interpreter driven by hand (quantize in, de-quantize out, batch 1)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    assert inp["dtype"] == np.int8 and out["dtype"] == np.int8  # full-integer ends
    (s_in, z_in), (s_out, z_out) = inp["quantization"], out["quantization"]
    preds = []
    for row in x:
        q = np.clip(np.round(row / s_in + z_in), -128, 127).astype(np.int8)[None]
        interp.set_tensor(inp["index"], q)
        interp.invoke()
        preds.append(np.argmax((interp.get_tensor(out["index"])[0].astype(np.float32) - z_out) * s_out))
    preds = np.array(preds)
    return float(np.mean(preds == y)), preds


def test_int8_export_agrees_with_the_float_model(run, tmp_path, capsys):
    out = tmp_path / "int8"
    assert main(["compress", str(run), "--quantize", "int8", "--calibration", "300", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "litert int8" in printed and "compressed gzip bytes by part: weights" in printed
    assert sorted(p.name for p in out.iterdir()) == ["model.tflite", "report.json"]
    report = json.loads((out / "report.json").read_text())
    for name in ("float", "compressed"):
        assert set(report[name]) >= {"accuracy", "size_bytes", "size_gzip_bytes", "latency_ms"}
    assert report["compressed"]["size_bytes"] == (out / "model.tflite").stat().st_size
    assert report["compressed"]["size_bytes"] < report["float"]["size_bytes"]  # a tiny MLP: mostly overhead
    assert report["calibration"] == 300 and report["keras"]["latency_ms"] > 0
    breakdown = report["size_breakdown"]  # of the compressed file: its parts add up to its sizes
    assert sum(p["bytes"] for p in breakdown["parts"].values()) == report["compressed"]["size_bytes"]
    assert sum(p["gzip_bytes"] for p in breakdown["parts"].values()) == report["compressed"]["size_gzip_bytes"]

    from kerastricks.build import load_recipe_dataset
    from kerastricks.recipes import load_recipe

    dataset = load_recipe_dataset(load_recipe(run / "recipe.toml"))
    accuracy, preds = interpreter_accuracy(out / "model.tflite", dataset.x_test, dataset.y_test)
    assert report["compressed"]["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    model = strip_pruning(keras.models.load_model(run / "model.keras"))
    float_preds = np.argmax(model.predict(dataset.x_test, verbose=0), axis=-1)
    assert np.mean(preds == float_preds) >= 0.98  # the bar
    assert report["agreement"] == pytest.approx(np.mean(preds == float_preds), abs=1e-12)
    assert report["sparsity"]["layers"]["dense1"] == pytest.approx(0.6, abs=1 / 64)


@pytest.mark.parametrize("args, key", [
    (["--prune-to", "1.0"], "--prune-to"),
    (["--prune-to", "-0.1"], "--prune-to"),
    (["--quantize", "int4"], "--quantize"),
    (["--calibration", "0"], "--calibration"),
])
def test_bad_arguments_exit_2_before_any_work(run, tmp_path, capsys, args, key):
    before = snapshot(run)
    assert main(["compress", str(run), *args, "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and key in err[0]
    assert snapshot(run) == before and not (tmp_path / "out").exists()


def test_data_dependent_errors_exit_2_and_write_nothing(run, tmp_path, capsys):
    assert main(["compress", str(run), "--calibration", "100000", "--out", str(tmp_path / "a")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--calibration" in err[0] and "at most" in err[0] and "100000" in err[0]
    assert main(["compress", str(run), "--prune-to", "0.5", "--layers", "conv*", "--out", str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--layers" in err[0] and "conv*" in err[0]
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_missing_model_and_occupied_out_exit_2(run, tmp_path, capsys):
    incomplete = tmp_path / "incomplete"
    incomplete.mkdir()
    (incomplete / "recipe.toml").write_text((run / "recipe.toml").read_text())
    assert main(["compress", str(incomplete)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.keras" in err[0]
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "model.tflite").write_bytes(b"mine")
    assert main(["compress", str(run), "--out", str(occupied)]) == 2
    assert "--out" in capsys.readouterr().err
    assert (occupied / "model.tflite").read_bytes() == b"mine"


def test_recipe_export_section_writes_the_litert_file_after_training(tmp_path, export_recipe):
    recipe = export_recipe(quantize="none")
    assert recipe.export == {"quantize": "none", "calibration": None, "prune_to": None, "layers": None}
    assert recipe_from_dict(recipe.to_dict(), source="again.toml") == recipe  # resolved recipe round-trips
    result = Trainer(recipe, out=tmp_path / "run", verbose=0).fit()
    export = result.report["export"]
    assert export["file"] == "export/model.tflite" and export["quantize"] == "none"
    written = json.loads((tmp_path / "run" / "export" / "report.json").read_text())
    assert written["float"] == export["float"] == export["compressed"]  # float32 only: one file
    assert (tmp_path / "run" / "export" / "model.tflite").stat().st_size == export["float"]["size_bytes"]
    assert export["agreement"] >= 0.98 and "[export]" in (tmp_path / "run" / "recipe.toml").read_text()


def test_the_command_loads_a_pruned_run_in_a_fresh_process(run, tmp_path):
    """``python -m kerastricks compress``: TensorFlow comes in before Keras there, and the pruning wrapper must
    still be registered when model.keras is loaded."""
    import subprocess
    import sys

    out = tmp_path / "fresh"
    proc = subprocess.run([sys.executable, "-m", "kerastricks", "compress", str(run), "--quantize", "none",
                           "--out", str(out), "--json"], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((out / "report.json").read_text())
    assert report["compressed"] == report["float"] and report["sparsity"]["layers"]["dense1"] > 0.5
