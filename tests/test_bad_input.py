"""Bad input at the command line: exit code 2, one line naming the file and the key, nothing created or changed.

Every case runs ``kerastricks.cli.main`` in a fresh working directory (``tmp_path``) that holds only the files the
case writes itself, and compares a snapshot of that directory (every path, every file's bytes) before and after.
A few cases run in a subprocess and also check that TensorFlow was never imported: recipe, data-path and
argument errors answer before any heavy import.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kerastricks.cli import main

SMALL = ["--set", "data.name=digits", "--set", "model.name=mlp", "--set", "model.width=16", "--set", "model.depth=1",
         "--set", "train.epochs=1"]
DIGITS = ["--preset", "digits", "--set", "model.name=mlp"]
RUNS = ["--runs-root", "runs"]

GOOD = """\
[data]
name = "digits"
[model]
name = "mlp"
width = 16
depth = 1
[train]
epochs = 1
batch_size = 64
"""


# ---- the files cases write -----------------------------------------------------------------------------------
def _x(n=40, features=4, seed=0):
    return np.random.default_rng(seed).random((n, features)).astype(np.float32)


def _y(n=40, classes=2):
    return np.arange(n) % classes


def npz(name, **arrays):
    def write(root: Path) -> None:
        base = {"x_train": _x(), "y_train": _y(), "x_test": _x(seed=1), "y_test": _y()}
        np.savez(root / name, **{**base, **arrays})

    return write


def text(name, content, encoding="utf-8"):
    def write(root: Path) -> None:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode(encoding) if isinstance(content, str) else content)

    return write


def csv_rows(name, rows):
    return text(name, "\n".join(",".join(map(str, r)) for r in rows) + "\n")


def images(folder, classes, per_class=3, damaged=None):
    def write(root: Path) -> None:
        from PIL import Image

        for c in classes:
            sub = root / folder / c
            sub.mkdir(parents=True, exist_ok=True)
            for i in range(per_class):
                Image.new("RGB", (6, 5), (40 * i, 200, 0)).save(sub / f"{i}.png")
        if damaged:
            (root / folder / damaged).write_bytes(b"not an image at all")

    return write


def folder(name, *files):
    def write(root: Path) -> None:
        (root / name).mkdir(parents=True)
        for f in files:
            (root / name / f).write_text("x")

    return write


def both(*writers):
    def write(root: Path) -> None:
        for w in writers:
            w(root)

    return write


def fake_run(name, *, report=False, checkpoint=None, model=True, recipe=GOOD):
    """A run directory as ``kerastricks train`` leaves it (the model file is a stand-in unless built)."""

    def write(root: Path) -> None:
        run = root / name
        (run / "checkpoints").mkdir(parents=True)
        (run / "recipe.toml").write_text(recipe)
        if report:
            (run / "report.json").write_text("{}")
        if checkpoint is not None:
            (run / "checkpoints" / "last.npz").write_bytes(checkpoint)
        if model:
            (run / "model.keras").write_bytes(b"PK not really a model")

    return write


def misfit_run(name):
    """A finished run whose recipe now names data of another shape than its (real, saved) model."""

    def write(root: Path) -> None:
        import keras

        from kerastricks.models import build_model

        npz("four.npz")(root)
        fake_run(name, model=False, recipe=GOOD.replace('name = "digits"', 'name = "npz:four.npz"'))(root)
        model = build_model("mlp", input_shape=(8, 8, 1), num_outputs=10, options={"width": 4, "depth": 1})
        keras.saving.save_model(model, root / name / "model.keras")

    return write


# ---- the cases: (argv, fragments the line must hold, files to write first) -------------------------------------
def recipe_cases():
    """Broken recipes, each through every command that reads a recipe."""
    broken = [
        ("bad-toml", "[train]\nepochs = = 3\n", ["line 2"]),
        ("unknown-top-key", GOOD + "colour = 3\n", ["train.colour"]),
        ("unknown-top-level", "colour = 3\n" + GOOD, ["key 'colour'", "unknown key"]),
        ("unknown-section", GOOD + "[trainer]\nepochs = 1\n", ["key 'trainer'", "did you mean 'train'"]),
        ("unknown-technique", GOOD + "[techniques.emma]\n", ["techniques.emma", "did you mean 'ema'"]),
        ("unknown-dataset", GOOD.replace('"digits"', '"digts"'), ["data.name", "did you mean 'digits'"]),
        ("unknown-model", GOOD.replace('"mlp"', '"mpl"'), ["model.name", "'mlp'"]),
        ("unknown-optimizer", GOOD + "[optimizer]\nname = 'adamx'\n", ["optimizer.name"]),
        ("unknown-schedule", GOOD + "[schedule]\nname = 'cosin'\n", ["schedule.name", "did you mean 'cosine'"]),
        ("unknown-loss", GOOD + "[loss]\nname = 'focall'\n", ["loss.name", "did you mean 'focal'"]),
        ("unknown-option", GOOD + "[optimizer]\nname = 'adam'\nmomentum = 0.9\n", ["optimizer.momentum"]),
        ("epochs-string", GOOD.replace("epochs = 1", 'epochs = "two"'), ["train.epochs", "an integer"]),
        ("epochs-zero", GOOD.replace("epochs = 1", "epochs = 0"), ["train.epochs", ">= 1"]),
        ("epochs-inf", GOOD.replace("epochs = 1", "epochs = inf"), ["train.epochs", "a finite number"]),
        ("lr-negative", GOOD + "[optimizer]\nlearning_rate = -0.1\n", ["optimizer.learning_rate", "> 0"]),
        ("lr-nan", GOOD + "[optimizer]\nlearning_rate = nan\n", ["optimizer.learning_rate", "a finite number"]),
        ("lr-huge", GOOD + "[optimizer]\nlearning_rate = 1e308\n", ["optimizer.learning_rate", "float32"]),
        ("seed-too-big", GOOD + "seed = 4294967296\n", ["train.seed", "< 4294967296"]),
        ("section-not-table", 'train = 3\n[data]\nname = "digits"\n', ["key 'train'", "a table"]),
        ("name-not-string", "name = 3\n" + GOOD, ["key 'name'", "a string"]),
        ("enabled-not-bool", GOOD + "[techniques.ema]\nenabled = 'yes'\n", ["techniques.ema.enabled"]),
        ("removed-technique", GOOD + "[techniques.reduce_lr_on_plateau]\n", ["reduce_lr_on_plateau", "removed"]),
        ("data-no-file", GOOD.replace('"digits"', '"npz:"'), ["data.name", "names no file"]),
        ("missing-data-file", GOOD.replace('"digits"', '"npz:gone.npz"'), ["gone.npz", "not found"]),
    ]
    cases = []
    for label, content, fragments in broken:
        for command in ("train", "show", "lr-find", "memory", "bench"):
            extra = RUNS if command in ("train", "lr-find") else []
            file = "gone.npz" if label == "missing-data-file" else "r.toml"
            cases.append(pytest.param([command, "r.toml", *extra], [file, *fragments], text("r.toml", content),
                                      id=f"recipe-{label}-{command}"))
    return cases


def value_cases():
    """Non-finite, too large and out-of-range numbers wherever a recipe reads one (``show`` validates only)."""
    keys = [
        ("train.epochs", []), ("train.batch_size", []), ("train.seed", []), ("train.nan_lr_factor", []),
        ("train.steps_per_execution", []), ("train.checkpoint_every", []), ("train.nan_retries", []),
        ("train.target.value", []), ("data.validation_split", []),
        ("optimizer.learning_rate", []), ("optimizer.weight_decay", []), ("optimizer.beta_1", []),
        ("optimizer.epsilon", []), ("optimizer.clipnorm", []),
        ("optimizer.momentum", ["--set", "optimizer.name=sgd"]),
        ("schedule.warmup_epochs", []), ("schedule.alpha", []),
        ("schedule.step_epochs", ["--set", "schedule.name=step"]),
        ("schedule.factor", ["--set", "schedule.name=step"]),
        ("schedule.decay_epochs", ["--set", "schedule.name=exponential"]),
        ("schedule.pct_start", ["--set", "schedule.name=one_cycle"]),
        ("techniques.label_smoothing.smoothing", []), ("techniques.ema.momentum", []), ("techniques.l2.factor", []),
        ("techniques.clip.threshold", []), ("techniques.data_echoing.factor", []),
        ("techniques.early_stopping.patience", []),
        ("loss.gamma", ["--set", "loss.name=focal"]),
        ("data.seed", ["--set", "data.name=mnist1d"]), ("data.num_samples", ["--set", "data.name=mnist1d"]),
        ("model.max_norm", []),
    ]
    cases = []
    for key, extra in keys:
        for value, expected in (("inf", "a finite number"), ("-inf", "a finite number"), ("nan", "a finite number"),
                                ("1e308", "")):
            cases.append(pytest.param(["show", *DIGITS, *extra, "--set", f"{key}={value}"],
                                      ["preset:digits", f"key '{key}'", expected], None, id=f"value-{key}={value}"))
    for key, value, expected in [
        ("train.seed", "4294967296", "< 4294967296"), ("train.seed", "-1", ">= 0"),
        ("data.seed", "4294967296", "< 4294967296"), ("data.seed", "-1", ">= 0"),
        ("train.epochs", "99999999999999999999", "2**63"), ("train.epochs", "1.5", "an integer"),
        ("train.batch_size", "0", ">= 1"), ("data.validation_split", "1.0", "< 1"),
        ("optimizer.beta_1", "1.0", "< 1"), ("optimizer.weight_decay", "-0.1", ">= 0"),
        ("schedule.warmup_epochs", "-1", ">= 0"), ("schedule.warmup_steps", "-1", ">= 0"),
        ("schedule.warmup_steps", "inf", ""), ("schedule.boundaries", "[1, inf]", "a finite number"),
        ("schedule.boundaries", "[1, nan]", "a finite number"), ("schedule.factors", "[1e308]", "float32"),
        ("train.precision", "float8", "one of"), ("train.jit_compile", "maybe", ""),
        ("data.image_size", "[32]", "at least 2 values"),
        ("model.max_norm", "0", "> 0"),
        ("optimizer.lookahead.sync_period", "0", ">= 1"), ("optimizer.lookahead.slow_step_size", "1.5", "<= 1"),
    ]:
        extra = ["--set", "data.name=mnist1d"] if key == "data.seed" else []
        if key.startswith("schedule.boundaries") or key.startswith("schedule.factors"):
            extra = ["--set", "schedule.name=piecewise"]
        if key == "data.image_size":
            extra = ["--set", "data.name=folder:imgs"]
        setup = images("imgs", ["a", "b"]) if key == "data.image_size" else None
        cases.append(pytest.param(["show", *DIGITS, *extra, "--set", f"{key}={value}"],
                                  ["preset:digits", f"key '{key}'", expected], setup, id=f"range-{key}={value}"))
    return cases


def combination_cases():
    """Recipes whose parts cannot work together: caught when validated (``show``)."""
    combos = [
        (["--set", "optimizer.name=sgd"], "preset:mnist1d", "schedule.cycle_momentum"),
        (["--set", "schedule.name=one_cycle", "--set", "optimizer.name=adagrad"], "preset:digits",
         "schedule.cycle_momentum"),
        (["--set", "techniques.ema.momentum=0.9", "--set", "optimizer.use_ema=true"], "preset:digits",
         "optimizer.use_ema"),
        (["--set", "techniques.agc.clipping=0.01", "--set", "techniques.clip.mode=agc"], "preset:digits",
         "techniques.agc"),
        (["--set", "techniques.clip.threshold=1", "--set", "optimizer.clipnorm=1"], "preset:digits",
         "optimizer.clipnorm"),
        (["--set", "techniques.gradient_accumulation.steps=2", "--set", "optimizer.gradient_accumulation_steps=3"],
         "preset:digits", "optimizer.gradient_accumulation_steps"),
        (["--set", "schedule.warmup_epochs=31"], "preset:digits", "schedule.warmup_epochs"),
        (["--set", "schedule.warmup_epochs=1", "--set", "schedule.warmup_steps=5"], "preset:digits",
         "schedule.warmup_steps"),
        (["--set", "schedule.name=piecewise", "--set", "schedule.boundaries=[1, 2]", "--set", "schedule.factors=[0.1]"],
         "preset:digits", "schedule.factors"),
        (["--set", "schedule.name=piecewise", "--set", "schedule.boundaries=[2, 1]",
          "--set", "schedule.factors=[0.1, 0.1]"], "preset:digits", "schedule.boundaries"),
        (["--set", "schedule.name=piecewise", "--set", "schedule.boundaries=[0]", "--set", "schedule.factors=[0.1]"],
         "preset:digits", "schedule.boundaries"),
        (["--set", "data.validation_split=0"], "preset:digits", "train.target.metric"),
        (["--set", "train.monitor=val_loss", "--set", "data.validation_split=0", "--set", "train.target.metric=loss"],
         "preset:digits", "train.monitor"),
        (["--set", "train.monitor=val_f1"], "preset:digits", "train.monitor"),
        (["--set", "techniques.drw.start_epoch=1"], "preset:digits", "loss.name"),
        (["--set", "techniques.recompute.mode=keras"], "preset:digits", "techniques.recompute.mode"),
        (["--set", "techniques.recompute.every=2", "--set", "model.name=gru"], "preset:digits", "model.name"),
        (["--set", "techniques.recompute.every=2", "--set", "model.recompute_every=3"], "preset:digits",
         "model.recompute_every"),
        (["--set", "techniques.label_smoothing.smoothing=0.1", "--set", "loss.label_smoothing=0.1"], "preset:digits",
         "loss.label_smoothing"),
        (["--set", "techniques.swa.start_epoch=31"], "preset:digits", "techniques.swa.start_epoch"),
    ]
    return [pytest.param(["show", *(["--preset", "digits", "--set", "model.name=mlp"]
                                    if source == "preset:digits" else []), *argv], [source, f"key '{key}'"], None,
                         id=f"combo-{key}-{i}") for i, (argv, source, key) in enumerate(combos)]


def override_cases():
    sets = [
        ("noequals", ["--set", "KEY.PATH=VALUE"]),
        ("=3", ["--set", "dotted keys"]),
        ("train..epochs=3", ["--set", "dotted keys"]),
        ("train.epochs.x=1", ["preset:digits", "train.epochs", "not a table"]),
        ("train.colour=1", ["preset:digits", "train.colour", "unknown key"]),
        ("train.epochs=", ["preset:digits", "train.epochs", "an integer"]),
        ("train.epochs=abc", ["preset:digits", "train.epochs", "an integer"]),
        ("train.epochs=[1, 2]", ["preset:digits", "train.epochs", "an integer"]),
        ("model.width=wide", ["preset:digits", "model.width"]),
        ("techniques.ema=1", ["preset:digits", "techniques.ema", "a table"]),
        ("techniques.emma.momentum=0.9", ["preset:digits", "techniques.emma"]),
    ]
    cases = []
    for assignment, fragments in sets:
        for command in ("train", "show", "lr-find"):
            extra = RUNS if command != "show" else []
            cases.append(pytest.param([command, "--preset", "digits", "--set", assignment, *extra], fragments, None,
                                      id=f"set-{assignment}-{command}"))
    return cases


def data_cases():
    """Data files with problems only their contents show: raised when the data loads, before any run directory."""
    x_nan, x_inf = _x(), _x()
    x_nan[3, 1] = np.nan
    x_inf[5, 0] = np.inf
    files = [
        ("npz-nan-train", npz("d.npz", x_train=x_nan), "npz:d.npz", ["d.npz", "x_train", "NaN or infinite"]),
        ("npz-inf-test", npz("d.npz", x_test=x_inf), "npz:d.npz", ["d.npz", "x_test", "NaN or infinite"]),
        ("npz-missing-key", text("d.npz", b""), "npz:d.npz", ["d.npz", "not a readable .npz"]),
        ("npz-wrong-keys", lambda root: np.savez(root / "d.npz", x=_x(), y=_y()), "npz:d.npz",
         ["d.npz", "missing array 'x_train'"]),
        ("npz-lengths", npz("d.npz", y_train=_y(30)), "npz:d.npz", ["d.npz", "differ in length"]),
        ("npz-shapes", npz("d.npz", x_test=_x(40, 5)), "npz:d.npz", ["d.npz", "differ in shape"]),
        ("npz-single-array", lambda root: np.save(root / "d.npz", _x()), "npz:d.npz", ["d.npz"]),
        ("npz-negative-labels", npz("d.npz", y_train=_y() - 1), "npz:d.npz", ["d.npz", ">= 0"]),
        ("npz-one-class", npz("d.npz", y_train=np.zeros(40, int), y_test=np.zeros(40, int)), "npz:d.npz",
         ["d.npz", "two classes"]),
        ("npz-strings", npz("d.npz", x_train=np.array(["a"] * 40)), "npz:d.npz", ["d.npz", "not numeric"]),
        ("csv-ragged", csv_rows("d.csv", [["a", "b", "label"], [1, 2, 0], [1, 0]]), "csv:d.csv",
         ["d.csv", "line 3"]),
        ("csv-text-feature", csv_rows("d.csv", [["a", "label"], [1, 0], ["x", 1]]), "csv:d.csv",
         ["d.csv", "line 3", "column 'a'"]),
        ("csv-nan-feature", csv_rows("d.csv", [["a", "label"], [1, 0], ["nan", 1]]), "csv:d.csv",
         ["d.csv", "not a finite number"]),
        ("csv-inf-feature", csv_rows("d.csv", [["a", "label"], ["inf", 0], [2, 1]]), "csv:d.csv",
         ["d.csv", "not a finite number"]),
        ("csv-no-label", csv_rows("d.csv", [["a", "b"], [1, 0]]), "csv:d.csv", ["d.csv", "data.label_column"]),
        ("csv-empty", text("d.csv", ""), "csv:d.csv", ["d.csv", "empty file"]),
        ("csv-empty-label", csv_rows("d.csv", [["a", "label"], [1, 0], [2, ""]]), "csv:d.csv",
         ["d.csv", "empty label"]),
        ("csv-one-class", csv_rows("d.csv", [["a", "label"]] + [[i, 0] for i in range(10)]), "csv:d.csv",
         ["d.csv", "two classes"]),
        ("csv-not-utf8", text("d.csv", b"a,label\n\xff\xfe,0\n"), "csv:d.csv", ["d.csv", "UTF-8"]),
        ("folder-one-class", images("imgs", ["only"]), "folder:imgs", ["imgs", "two classes"]),
        ("folder-no-images", folder("imgs/a", "notes.txt"), "folder:imgs", ["imgs", "no images"]),
        ("folder-undecodable", images("imgs", ["a", "b"], damaged="b/bad.png"), "folder:imgs",
         ["imgs/b/bad.png", "cannot decode"]),
        ("folder-test-classes", both(images("imgs/train", ["a", "b"]), images("imgs/test", ["a", "c"])),
         "folder:imgs", ["imgs/test", "differ"]),
    ]
    cases = []
    for label, setup, name, fragments in files:
        cases.append(pytest.param(["train", *DIGITS, "--set", f"data.name={name}", *SMALL[6:], *RUNS, "--quiet"],
                                  fragments, setup, id=f"data-{label}"))
    for label, extra, fragments, setup in [
        ("num-classes-too-small", ["--set", "data.num_classes=1"], ["d.npz", "data.num_classes"], npz("d.npz")),
        ("float-labels-classification", ["--set", "data.task=classification"], ["d.npz", "integers"],
         npz("d.npz", y_train=_y() + 0.5)),
        ("mse-on-classification", ["--set", "loss.name=mse"], ["preset:digits", "loss.name"], npz("d.npz")),
        ("accuracy-on-regression", ["--set", "data.task=regression", "--set", "loss.name=mse"],
         ["preset:digits", "train.target.metric", "not logged"], npz("d.npz")),
        ("mae-on-classification", ["--set", "train.monitor=val_mae"], ["preset:digits", "train.monitor", "not logged"],
         npz("d.npz")),
        ("cnn2d-on-vectors", ["--set", "model.name=cnn2d"], ["preset:digits", "model.name", "image input"],
         npz("d.npz")),
    ]:
        cases.append(pytest.param(["train", *DIGITS, "--set", "data.name=npz:d.npz", *SMALL[6:], *extra, *RUNS,
                                   "--quiet"], fragments, setup, id=f"data-{label}"))
    for command in ("lr-find", "memory"):
        extra = RUNS if command == "lr-find" else []
        cases.append(pytest.param([command, *DIGITS, "--set", "data.name=npz:d.npz", *extra],
                                  ["d.npz", "NaN or infinite"], npz("d.npz", x_train=x_nan), id=f"data-nan-{command}"))
    for name, fragments in [("npz:missing.npz", ["missing.npz", "not found"]),
                            ("csv:missing.csv", ["missing.csv", "not found"]),
                            ("folder:missing", ["missing", "image folder not found"]),
                            ("npz:adir", ["adir", "not a file"]), ("folder:afile", ["afile", "not a folder"])]:
        setup = both(folder("adir"), text("afile", "x"))
        for command in ("train", "show", "memory"):
            extra = [*RUNS, "--quiet"] if command == "train" else []
            cases.append(pytest.param([command, *DIGITS, "--set", f"data.name={name}", *extra], fragments, setup,
                                      id=f"datapath-{name}-{command}"))
    return cases


def run_dir_cases():
    run_files = both(text("afile", "x"), folder("full", "something.txt"))
    train = ["train", *DIGITS, *SMALL[6:], "--quiet"]
    lr_find = ["lr-find", *DIGITS]
    return [
        pytest.param([*train, "--out", "afile/run"], ["afile", "--out", "is a file"], run_files, id="out-under-file"),
        pytest.param([*train, "--out", "afile/a/b"], ["afile", "--out"], run_files, id="out-deep-under-file"),
        pytest.param([*train, "--out", "afile"], ["afile", "--out", "not a directory"], run_files, id="out-is-file"),
        pytest.param([*train, "--out", "full"], ["full", "--out", "not empty"], run_files, id="out-not-empty"),
        pytest.param([*train, "--runs-root", "afile"], ["afile", "--runs-root"], run_files, id="runs-root-file"),
        pytest.param([*train, "--runs-root", "afile/x"], ["afile", "--runs-root"], run_files,
                     id="runs-root-under-file"),
        pytest.param([*lr_find, "--out", "afile/x"], ["afile", "--out"], run_files, id="lr-find-out-under-file"),
        pytest.param([*lr_find, "--out", "afile"], ["afile", "--out"], run_files, id="lr-find-out-is-file"),
        pytest.param([*lr_find, "--runs-root", "afile"], ["afile", "--runs-root"], run_files,
                     id="lr-find-runs-root-file"),
        pytest.param([*lr_find, "--out", "o", "--apply", "afile"], ["afile", "--apply", "already exists"], run_files,
                     id="lr-find-apply-exists"),
        pytest.param([*lr_find, "--out", "o", "--apply", "afile/r.toml"], ["afile", "--apply"], run_files,
                     id="lr-find-apply-under-file"),
        pytest.param(["bench", *DIGITS, "--out", "afile/b"], ["afile", "--out"], run_files, id="bench-out-under-file"),
        pytest.param(["train", "--resume", "full"], ["full", "--resume", "not a kerastricks run"], run_files,
                     id="resume-not-a-run"),
        pytest.param(["train", "--resume", "nowhere"], ["nowhere", "--resume", "not a directory"], None,
                     id="resume-missing"),
        pytest.param(["train", "--resume", "afile"], ["afile", "--resume"], run_files, id="resume-a-file"),
        pytest.param(["train", "--resume", "run"], ["run", "--resume", "already complete"],
                     fake_run("run", report=True), id="resume-complete"),
        pytest.param(["train", "--resume", "run"], ["run/checkpoints/last.npz", "--resume", "unreadable checkpoint"],
                     fake_run("run", checkpoint=b"PK\x03\x04 torn"), id="resume-corrupt-checkpoint"),
        pytest.param(["train", "--resume", "run"], ["run/recipe.toml", "train.colour"],
                     fake_run("run", recipe=GOOD + "colour = 1\n"), id="resume-broken-recipe"),
        pytest.param(["train", "--resume", "run", "--set", "train.epochs=2"], ["--resume"], fake_run("run"),
                     id="resume-with-overrides"),
        pytest.param(["evaluate", "full"], ["full", "not a kerastricks run"], run_files, id="evaluate-not-a-run"),
        pytest.param(["evaluate", "nowhere"], ["nowhere", "not a directory"], None, id="evaluate-missing"),
        pytest.param(["evaluate", "afile"], ["afile", "not a directory"], run_files, id="evaluate-a-file"),
        pytest.param(["evaluate", "run"], ["run", "no model.keras"], fake_run("run", model=False),
                     id="evaluate-no-model"),
        pytest.param(["evaluate", "run"], ["run/recipe.toml", "train.colour"],
                     fake_run("run", recipe=GOOD + "colour = 1\n"), id="evaluate-broken-recipe"),
        pytest.param(["evaluate", "run"], ["run/model.keras", "cannot load model"], fake_run("run"),
                     id="evaluate-corrupt-model"),
        pytest.param(["evaluate", "run"], ["gone.npz", "not found"],
                     fake_run("run", recipe=GOOD.replace('"digits"', '"npz:gone.npz"')), id="evaluate-data-gone"),
        pytest.param(["evaluate", "run"], ["run/model.keras", "no longer fits"], misfit_run("run"),
                     id="evaluate-data-misfit"),
    ]


def argument_cases():
    lr = ["lr-find", *DIGITS, *RUNS]
    bench = ["bench", *DIGITS]
    return [
        pytest.param([*lr, "--end-lr", "inf"], ["--end-lr", "finite"], None, id="lr-find-end-inf"),
        pytest.param([*lr, "--end-lr", "nan"], ["--end-lr", "finite"], None, id="lr-find-end-nan"),
        pytest.param([*lr, "--end-lr", "1e31"], ["--end-lr", "1e30"], None, id="lr-find-end-huge"),
        pytest.param([*lr, "--start-lr", "1", "--end-lr", "0.1"], ["--end-lr", "--start-lr"], None,
                     id="lr-find-start-above-end"),
        pytest.param([*lr, "--start-lr", "0.5", "--end-lr", "0.5"], ["--end-lr", "--start-lr"], None,
                     id="lr-find-start-equals-end"),
        pytest.param([*lr, "--start-lr", "0"], ["--start-lr", "> 0"], None, id="lr-find-start-zero"),
        pytest.param([*lr, "--start-lr=-1e-3"], ["--start-lr", "> 0"], None, id="lr-find-start-negative"),
        pytest.param([*lr, "--start-lr", "nan"], ["--start-lr", "finite"], None, id="lr-find-start-nan"),
        pytest.param([*lr, "--start-lr=-inf"], ["--start-lr", "finite"], None, id="lr-find-start-minus-inf"),
        pytest.param([*lr, "--start-lr", "tiny"], ["--start-lr", "invalid float"], None, id="lr-find-start-text"),
        pytest.param([*lr, "--num-steps", "1"], ["--num-steps", ">= 2"], None, id="lr-find-one-step"),
        pytest.param([*lr, "--num-steps", "1.5"], ["--num-steps"], None, id="lr-find-steps-float"),
        pytest.param([*lr, "--method", "best"], ["--method", "invalid choice"], None, id="lr-find-method"),
        pytest.param([*bench, "--variant", ":train.epochs=1"], ["--variant", "malformed"], None, id="bench-no-name"),
        pytest.param([*bench, "--variant", "a:noequals"], ["--variant", "malformed"], None, id="bench-no-equals"),
        pytest.param([*bench, "--variant", "a:train.epochs=1", "--variant", "a:train.epochs=2"],
                     ["--variant", "duplicate"], None, id="bench-duplicate-variant"),
        pytest.param([*bench, "--variant", "a:train.colour=1"], ["preset:digits", "train.colour", "variant 'a'"], None,
                     id="bench-variant-unknown-key"),
        pytest.param([*bench, "--variant", "a:train.epochs=nan"], ["preset:digits", "train.epochs", "finite"], None,
                     id="bench-variant-nan"),
        pytest.param([*bench, "--variant", "a:optimizer.learning_rate=1e308"],
                     ["preset:digits", "optimizer.learning_rate"], None, id="bench-variant-huge-lr"),
        pytest.param([*bench, "--seeds", "0"], ["--seeds", "positive integer"], None, id="bench-seeds-zero"),
        pytest.param([*bench, "--seeds", "-2"], ["--seeds", "positive integer"], None, id="bench-seeds-negative"),
        pytest.param([*bench, "--seeds", "many"], ["--seeds", "positive integer"], None, id="bench-seeds-text"),
        pytest.param([*bench, "--target", "val_accuracy"], ["--target", "METRIC=VALUE"], None, id="bench-target-bare"),
        pytest.param([*bench, "--target", "val_accuracy="], ["--target", "METRIC=VALUE"], None,
                     id="bench-target-empty"),
        pytest.param([*bench, "--target", "val_f1=0.5"], ["preset:digits", "train.target.metric"], None,
                     id="bench-target-metric"),
        pytest.param([*bench, "--target", "val_accuracy=nan"], ["preset:digits", "train.target.value", "finite"],
                     None, id="bench-target-nan"),
        pytest.param([*bench, "--timeout", "-1"], ["--timeout", "seconds > 0"], None, id="bench-timeout-negative"),
        pytest.param([*bench, "--timeout", "inf"], ["--timeout", "seconds > 0"], None, id="bench-timeout-inf"),
        pytest.param(["bench", "gone.toml"], ["gone.toml", "not found"], None, id="bench-missing-file"),
        pytest.param(["list", "things"], ["kind", "invalid choice"], None, id="list-unknown-kind"),
        pytest.param(["fly"], ["invalid choice"], None, id="unknown-command"),
        pytest.param(["train", "--bogus"], ["unrecognized arguments"], None, id="unknown-flag"),
        pytest.param(["train", "r.toml", "--preset", "digits", *RUNS], ["--preset", "not both"],
                     text("r.toml", GOOD), id="recipe-and-preset"),
        pytest.param(["show", "--preset", "digitz"], ["--preset", "did you mean 'digits'"], None,
                     id="unknown-preset"),
        pytest.param(["show", "adir"], ["adir", "is a directory"], folder("adir"), id="recipe-is-directory"),
        pytest.param(["show", "r.toml"], ["r.toml", "cannot read"], text("r.toml", b"name = '\xff'\n"),
                     id="recipe-not-utf8"),
        pytest.param(["show", "gone.toml"], ["gone.toml", "not found"], None, id="recipe-missing"),
    ]


CASES = [*recipe_cases(), *value_cases(), *combination_cases(), *override_cases(), *data_cases(), *run_dir_cases(),
         *argument_cases()]


# ---- the checks ----------------------------------------------------------------------------------------------
def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every path under ``root``: a file's bytes, ``None`` for a directory."""
    return {str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))}


def assert_one_clear_line(code: int, err: str, fragments: list[str]) -> str:
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("kerastricks"), line
    for fragment in fragments:
        assert fragment in line, (fragment, line)
    for leak in ("received None", "received no value", "Input should", "Unable to parse", "Value error"):
        assert leak not in line, line
    # shortened values end in " ..." at a word boundary, never inside a word
    assert not re.search(r"\w\.\.\.($|[\s,)])", line), line
    return line


@pytest.mark.parametrize("argv, fragments, setup", CASES)
def test_bad_input(argv, fragments, setup, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(tmp_path)
    (tmp_path / "runs").mkdir()
    before = snapshot(tmp_path)
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse usage errors
        code = exc.code
    out, err = capsys.readouterr()
    assert_one_clear_line(code, err, fragments)
    assert snapshot(tmp_path) == before, "a rejected command created or changed files"
    assert not any((tmp_path / "runs").iterdir())


# ---- in a subprocess: no traceback, and no TensorFlow for recipe, data-path and argument errors -------------------
PROBE = ("import sys, kerastricks.cli as c; code = c.main(sys.argv[1:]); print('tensorflow' in sys.modules); "
         "sys.exit(code)")


@pytest.mark.parametrize(
    "argv, fragments, setup",
    [
        pytest.param(["show", "r.toml"], ["r.toml", "train.colour"], text("r.toml", GOOD + "colour = 1\n"),
                     id="recipe-key"),
        pytest.param(["train", "--preset", "digits", "--set", "data.seed=4294967296", "--set", "data.name=mnist1d",
                      *RUNS], ["preset:digits", "data.seed"], None, id="data-seed"),
        pytest.param(["train", *DIGITS, "--set", "data.name=npz:gone.npz", *RUNS], ["gone.npz", "not found"], None,
                     id="data-path"),
        pytest.param(["train", *DIGITS, "--runs-root", "afile"], ["afile", "--runs-root"], text("afile", "x"),
                     id="runs-root-file"),
        pytest.param(["lr-find", *DIGITS, "--end-lr", "inf", *RUNS], ["--end-lr"], None, id="lr-find-end-inf"),
        pytest.param(["memory", *DIGITS, "--set", "optimizer.learning_rate=nan"], ["optimizer.learning_rate"], None,
                     id="memory-lr-nan"),
        pytest.param(["bench", *DIGITS, "--variant", "a:train.epochs=inf"], ["train.epochs"], None, id="bench-variant"),
        pytest.param(["evaluate", "nowhere"], ["nowhere"], None, id="evaluate-missing"),
    ],
)
def test_bad_input_in_a_subprocess_imports_no_tensorflow(argv, fragments, setup, tmp_path):
    if setup is not None:
        setup(tmp_path)
    (tmp_path / "runs").mkdir()
    before = snapshot(tmp_path)
    proc = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert_one_clear_line(proc.returncode, proc.stderr, fragments)
    assert proc.stdout.strip() == "False", "TensorFlow was imported before the input error"
    assert snapshot(tmp_path) == before


def test_python_m_kerastricks_reports_bad_input_in_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "kerastricks", "show", "--preset", "digits", "--set",
                           "optimizer.learning_rate=inf"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert_one_clear_line(proc.returncode, proc.stderr, ["preset:digits", "optimizer.learning_rate",
                                                         "expected a finite number"])
    assert list(tmp_path.iterdir()) == []
