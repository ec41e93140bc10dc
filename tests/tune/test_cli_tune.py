"""`kerastricks tune` on the command line: bad input (exit 2, one line, before any trial), a two-worker study on
one journal storage, and a study whose driver is SIGKILLed mid-trial and continued with the same command."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")

from optuna.trial import TrialState  # noqa: E402

from kerastricks.cli import main  # noqa: E402
from kerastricks.recipes import load_recipe  # noqa: E402
from kerastricks.tune import prepare, resolve_tune  # noqa: E402
from kerastricks.tune.study import make_storage  # noqa: E402
from kerastricks.tune.worker import REASON, counted  # noqa: E402

SPACE = """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 1e-3
high = 3e-2
log = true
[[param]]
key = "schedule.name"
type = "categorical"
choices = ["cosine", "constant"]
"""
#: The smallest real trial: digits, an MLP of one 16-unit layer, 2 epochs, no plots or TensorBoard.
TINY = ["--preset", "digits", "--set", "model.name=mlp", "--set", "model.width=16", "--set", "model.depth=1",
        "--set", "train.epochs=2", "--set", "train.plots=false", "--set", "train.tensorboard=false"]


def _param(**fields):
    return "[[param]]\n" + "".join(f"{k} = {v}\n" for k, v in fields.items())


@pytest.mark.parametrize(
    "space, extra, fragment",
    [
        (_param(key='"optimizer.learnin_rate"', type='"float"', low=0.001, high=0.1),
         [], "key 'optimizer.learnin_rate': the recipe rejects"),
        (_param(key='"optimizer.learning_rate"', type='"float"', low=0.1, high=0.001),
         [], "key 'optimizer.learning_rate.low': low > high"),
        (_param(key='"optimizer.learning_rate"', type='"float"', low=0, high=0.1, log="true"),
         [], "a log scale needs a positive range"),
        (_param(key='"schedule.name"', type='"categorical"', choices="[]"), [], "empty or missing choices"),
        (_param(key='"schedule.name"', type='"categorical"', choices='["cosine", "cosin"]'), [],
         "the recipe rejects schedule.name = \"cosin\""),
        (SPACE, ["--storage", "sqlite:////nonexistent-kt-dir/x/study.db"], "key '--storage': cannot open the storage"),
        (SPACE, ["--storage", "study.db"], "key '--storage': expected an SQLAlchemy URL"),
        (SPACE, ["--objective", "test_accuracy"], "the test set is never an objective"),
        (SPACE, ["--objective", "val_accuracy", "--objective", "time_to_target_s", "--pruner", "median"],
         "Optuna prunes single-objective studies only"),
        (SPACE, ["--sampler", "grid"], "the grid sampler needs discrete values"),
        (SPACE, ["--sampler", "random", "--startup-trials", "3"], "the random sampler has no startup trials"),
        (SPACE, ["--pruner", "none", "--pruner-warmup", "2"], "key '--pruner-warmup': nothing is pruned"),
        (SPACE, ["--pruner-warmup", "-1"], "key '--pruner-warmup': expected epochs >= 0, received -1"),
        (SPACE, ["--set", "train.epochs=4", "--pruner-warmup", "4"],
         "key '--pruner-warmup': no trial could ever be pruned, expected fewer than train.epochs (4), received 4"),
    ],
)
def test_bad_input_is_one_line_exit_2_before_any_trial(space, extra, fragment, tmp_path, capsys, space_file):
    out = tmp_path / "study"
    code = main(["tune", "--preset", "digits", "--space", space_file(space), "--out", str(out), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("kerastricks: error:")
    assert fragment in err
    assert not out.exists()  # nothing created


def test_existing_study_with_another_space_or_folder_is_refused(tmp_path, capsys, space_file):
    out = tmp_path / "study"
    prepare(resolve_tune(preset="digits", space=space_file(SPACE), out=out))  # the study exists, no trial yet
    before = sorted(p.name for p in out.iterdir())
    other = space_file(SPACE.replace('"constant"', '"triangular2"'), "other.toml")
    assert main(["tune", "--preset", "digits", "--space", other, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "study 'digits' exists with a different search space" in err
    assert sorted(p.name for p in out.iterdir()) == before
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    assert main(["tune", "--preset", "digits", "--space", other, "--out", str(mine)]) == 2
    assert "is not a study directory; nothing was overwritten" in capsys.readouterr().err
    assert (mine / "notes.txt").read_text() == "keep"


def _env(**extra):
    return {**os.environ, "PYTHONUNBUFFERED": "1", **extra}


def _trials(out, storage):
    study = optuna.load_study(study_name="digits", storage=make_storage(storage))
    return study.get_trials()


@pytest.mark.slow
def test_two_local_workers_share_one_journal_storage(tmp_path, space_file):
    out, journal = tmp_path / "study", tmp_path / "study.journal"
    cmd = [sys.executable, "-m", "kerastricks", "tune", *TINY, "--space", space_file(SPACE), "--trials", "3",
           "--workers", "2", "--storage", f"journal:{journal}", "--seed", "0", "--out", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=_env())
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    trials = _trials(out, f"journal:{journal}")
    assert [t.number for t in trials] == [0, 1, 2]  # consistent numbers, no duplicates, no surplus
    assert all(t.state == TrialState.COMPLETE for t in trials)
    assert len({t.user_attrs["worker"] for t in trials}) == 2  # both workers ran trials
    assert len({tuple(sorted(t.params.items())) for t in trials}) == 3
    for t in trials:  # each trial is a normal run with the trial's values in its resolved recipe
        run = Path(t.user_attrs["run_dir"])
        assert run == out / "trials" / f"{t.number:04d}" and (run / "report.json").is_file()
        recipe = load_recipe(run / "recipe.toml")
        assert recipe.optimizer["learning_rate"] == t.params["optimizer.learning_rate"]
        assert recipe.schedule["name"] == t.params["schedule.name"] and recipe.model["width"] == 16
    assert "[w0] " in proc.stdout and "[w1] " in proc.stdout and "[3/3] trial" in proc.stdout
    assert len((out / "trials.csv").read_text().splitlines()) == 4
    best = max(trials, key=lambda t: (t.values[0], -t.number))
    assert load_recipe(out / "best.toml") == load_recipe(Path(best.user_attrs["run_dir"]) / "recipe.toml")
    assert f"| {best.number} |" in (out / "study.md").read_text()
    assert (out / "history.png").is_file() and (out / "importances.png").is_file()


def _processes_with(text):
    found = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and text in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace"):
                found.append(int(pid))
        except OSError:
            continue
    return found


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the kill chain relies on Linux's parent-death signal")
def test_killed_study_continues_with_the_same_command(tmp_path, space_file):
    out = tmp_path / "study"
    cmd = [sys.executable, "-m", "kerastricks", "tune", *TINY, "--space", space_file(SPACE), "--trials", "1",
           "--out", str(out)]
    env = _env(KERASTRICKS_TUNE_GRACE_S="3")
    driver = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    recipe = out / "recipes" / "trial-0000.toml"
    deadline = time.time() + 300
    while not (recipe.exists() and _processes_with(str(recipe))) and time.time() < deadline:
        time.sleep(0.2)
    assert _processes_with(str(recipe)), "the first trial never started"
    time.sleep(2)  # mid-trial
    driver.send_signal(signal.SIGKILL)
    driver.wait()
    deadline = time.time() + 20
    while _processes_with(str(recipe)) and time.time() < deadline:
        time.sleep(0.2)
    assert not _processes_with(str(recipe))  # the training process died with its worker
    assert not (out / "trials" / "0000" / "report.json").exists()

    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "continuing (0 trials done)" in proc.stdout and "trial 0 FAIL" in proc.stdout
    killed, replacement = _trials(out, f"sqlite:///{out.resolve() / 'study.db'}")
    assert killed.number == 0 and killed.state == TrialState.FAIL and not counted(killed)
    assert "no heartbeat" in killed.user_attrs[REASON]
    assert replacement.number == 1 and replacement.state == TrialState.COMPLETE and counted(replacement)
    rows = (out / "trials.csv").read_text().splitlines()
    assert len(rows) == 3 and rows[1].startswith("0,FAIL,") and rows[2].startswith("1,COMPLETE,")
    assert "worker stopped mid-trial" in (out / "study.md").read_text()
    assert load_recipe(out / "best.toml").optimizer["learning_rate"] == replacement.params["optimizer.learning_rate"]
