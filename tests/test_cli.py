"""The command line: bad input -> exit 2 and one line; train/show/list/evaluate work."""

import json
import os
import subprocess
import sys

import pytest

from kerastricks.cli import main

SMALL_SET = ["--set", "data.name=digits", "--set", "model.name=mlp", "--set", "model.width=16",
             "--set", "model.depth=1", "--set", "model.kernel_size=3"]


def run_cli(args, capsys):
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


GOOD = """
[data]
name = "digits"
[model]
name = "mlp"
width = 16
depth = 1
[train]
epochs = 2
batch_size = 64
"""


@pytest.mark.parametrize(
    "make_args, fragments",
    [
        (lambda p: [str(write(p, "m.toml", "[train]\nepochs = = 3\n"))], ["m.toml", "line 2"]),
        (lambda p: [str(write(p, "k.toml", GOOD + "colour = 3\n"))], ["k.toml", "train.colour"]),
        (lambda p: [str(write(p, "t.toml", GOOD + "[techniques.emma]\n"))], ["t.toml", "emma", "did you mean 'ema'"]),
        (lambda p: [str(write(p, "d.toml", GOOD.replace('"digits"', '"digts"')))], ["data.name", "'digits'"]),
        (lambda p: [str(write(p, "o.toml", GOOD + "[optimizer]\nname = 'adamx'\n"))], ["optimizer.name", "adam"]),
        (lambda p: [str(write(p, "n.toml", GOOD.replace('"mlp"', '"mpl"')))], ["model.name", "'mlp'"]),
        (lambda p: [str(write(p, "w.toml", GOOD.replace("epochs = 2", 'epochs = "two"')))],
         ["train.epochs", "integer"]),
        (lambda p: [str(write(p, "r.toml", GOOD + "[optimizer]\nlearning_rate = -0.1\n"))],
         ["optimizer.learning_rate", "> 0", "-0.1"]),
        (lambda p: [str(write(p, "e.toml", GOOD.replace("epochs = 2", "epochs = 0")))], ["train.epochs", ">= 1"]),
        (lambda p: [str(p / "nope.toml")], ["nope.toml", "not found"]),
        (lambda p: ["--preset", "digits", "--set", "data.name=npz:" + str(p / "missing.npz")], ["missing.npz"]),
        (lambda p: ["--preset", "digits", "--set", "data.name=npz:" + str(write(p, "c.npz", "not a zip"))],
         ["c.npz"]),
        (lambda p: ["--preset", "digits", "--set", "train.epochs.x=1"], ["train.epochs"]),
        (lambda p: ["--preset", "digits", "--set", "noequals"], ["--set", "KEY.PATH=VALUE"]),
        (lambda p: ["--resume", str(p)], ["--resume", "not a kerastricks run directory"]),
        (lambda p: ["--preset", "digitz"], ["--preset", "did you mean 'digits'"]),
        (lambda p: ["--preset", "digits", "--set", "model.name=cnn1d"], ["model", "(8, 8, 1)"]),
    ],
)
def test_bad_input_exit_2_one_line(tmp_path, capsys, make_args, fragments):
    (tmp_path / "out").mkdir()
    code, out, err = run_cli(["train", *make_args(tmp_path), "--runs-root", str(tmp_path / "out"), "--quiet"], capsys)
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    # a run that never started training leaves no run directory behind
    assert list((tmp_path / "out").iterdir()) == []


def test_dataset_unavailable_offline(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    code, _, err = run_cli(["show", "--preset", "digits", "--set", "data.name=cifar10"], capsys)
    assert code == 0  # validation alone does not load data
    code, _, err = run_cli(["train", "--preset", "digits", "--set", "data.name=cifar10", "--runs-root",
                            str(tmp_path / "r"), "--quiet"], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "cifar10" in err and "npz:" in err


def test_existing_out_dir_not_overwritten(tmp_path, capsys):
    out = tmp_path / "run"
    out.mkdir()
    (out / "mine.txt").write_text("precious")
    recipe = write(tmp_path, "g.toml", GOOD)
    code, _, err = run_cli(["train", str(recipe), "--out", str(out), "--quiet"], capsys)
    assert code == 2 and "not empty" in err and len(err.strip().splitlines()) == 1
    assert sorted(p.name for p in out.iterdir()) == ["mine.txt"]


def test_list_and_show(capsys):
    code, out, _ = run_cli(["list", "techniques"], capsys)
    assert code == 0
    for name in ("early_stopping", "ema", "gradient_accumulation", "label_smoothing", "l2"):
        assert name in out
    code, out, _ = run_cli(["list"], capsys)
    for kind in ("datasets:", "models:", "presets:", "optimizers:", "schedules:", "losses:"):
        assert kind in out
    for name in ("mnist1d", "digits", "npz", "csv", "folder", "cnn1d", "resnet", "adamw", "cosine"):
        assert name in out
    code, out, _ = run_cli(["show", "--preset", "mnist1d", "--set", "train.epochs=4"], capsys)
    assert code == 0 and "epochs = 4" in out and "[optimizer]" in out


def test_usage_errors_are_one_line(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["list", "widgets"])
    assert exc.value.code == 2
    _, err = capsys.readouterr()
    assert len(err.strip().splitlines()) == 1


def test_train_and_evaluate(tmp_path, capsys):
    recipe = write(tmp_path, "g.toml", GOOD)
    out = tmp_path / "run"
    code, text, err = run_cli(["train", str(recipe), "--out", str(out), "--quiet"], capsys)
    assert code == 0, err
    assert "test accuracy" in text and str(out) in text and "wall time" in text
    report = json.loads((out / "report.json").read_text())
    code, text, _ = run_cli(["evaluate", str(out), "--json"], capsys)
    assert code == 0
    assert json.loads(text)["accuracy"] == pytest.approx(report["test"]["accuracy"])
    # a finished run cannot be resumed, and nothing in it changes
    before = (out / "report.json").read_bytes()
    code, _, err = run_cli(["train", "--resume", str(out)], capsys)
    assert code == 2 and "already complete" in err
    assert (out / "report.json").read_bytes() == before
    code, _, err = run_cli(["evaluate", str(tmp_path)], capsys)
    assert code == 2 and "not a kerastricks run directory" in err


def _cli(*args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "kerastricks", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_subprocess_bad_input_has_no_traceback(tmp_path):
    proc = _cli("train", "--preset", "digits", "--set", "train.epochs=-1")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 2
    assert err.strip().splitlines() == [err.strip()] and "Traceback" not in err
    assert "train.epochs" in err


class _Exit(Exception):
    pass


def _fake_exit(calls):
    def exit_(code):
        calls.append(code)
        raise _Exit

    return exit_


def test_run_flushes_runs_exit_handlers_and_exits_with_the_code(monkeypatch, capsys):
    import atexit
    import logging

    import kerastricks.cli as cli

    calls, handlers = [], []
    monkeypatch.setattr(cli, "main", lambda: print("summary") or 3)
    monkeypatch.setattr(atexit, "_run_exitfuncs", lambda: handlers.append(True))
    # the real shutdown would close every logging handler of this (pytest worker) process, pytest's own too
    monkeypatch.setattr(logging, "shutdown", lambda: handlers.append("logging"))
    monkeypatch.setattr(os, "_exit", _fake_exit(calls))
    with pytest.raises(_Exit):
        cli.run()
    assert calls == [3] and handlers == [True, "logging"]
    assert capsys.readouterr().out == "summary\n"


def test_run_waits_for_a_running_thread(monkeypatch):
    import threading

    import kerastricks.cli as cli

    calls, release = [], threading.Event()
    worker = threading.Thread(target=release.wait, daemon=False)
    worker.start()
    try:
        monkeypatch.setattr(cli, "main", lambda: 0)
        monkeypatch.setattr(os, "_exit", _fake_exit(calls))
        with pytest.raises(SystemExit) as exc:
            cli.run()
        assert exc.value.code == 0 and calls == []
    finally:
        release.set()
        worker.join()
