"""The worker's trial loop with a stand-in trainer (a tiny script writing metrics.csv and report.json): pruning
from per-epoch values, failures with their reason, heartbeats, several objectives. Real training: test_cli_tune."""

import sys
import time

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import FloatDistribution  # noqa: E402
from optuna.trial import TrialState, create_trial  # noqa: E402

from kerastricks import io as kio  # noqa: E402
from kerastricks.tune import prepare, resolve_tune  # noqa: E402
from kerastricks.tune.outputs import write_outputs  # noqa: E402
from kerastricks.tune.study import runtime_settings, spec_from_dir  # noqa: E402
from kerastricks.tune.worker import REASON, counted, fail_stale, open_worker_study, work  # noqa: E402

#: Stands in for `kerastricks train RECIPE --out DIR --quiet`: val_accuracy grows with the recipe's learning rate
#: (or follows FAKE_ACCS), one epoch every FAKE_SLEEP seconds; FAKE_EXIT makes the run fail.
FAKE_TRAIN = r'''
import json, os, sys, time, tomllib
recipe, out = sys.argv[1], sys.argv[sys.argv.index("--out") + 1]
lr = tomllib.loads(open(recipe).read())["optimizer"]["learning_rate"]
os.makedirs(out, exist_ok=True)
accs = [float(a) for a in os.environ["FAKE_ACCS"].split(",")] if os.environ.get("FAKE_ACCS") else \
    [min(0.99, lr * 10 * e / 4) for e in range(1, 5)]
rows = ["epoch,accuracy,loss,val_accuracy,val_loss,elapsed_s"]
for e, acc in enumerate(accs, 1):
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0.05")))
    rows.append(f"{e},{acc},1.0,{acc},1.0,{e}")
    with open(os.path.join(out, ".m.tmp"), "w") as fh:
        fh.write("\n".join(rows) + "\n")
    os.replace(os.path.join(out, ".m.tmp"), os.path.join(out, "metrics.csv"))
if os.environ.get("FAKE_EXIT"):
    print("fake trainer: loss became nan")
    sys.exit(int(os.environ["FAKE_EXIT"]))
report = {"best": {"epoch": len(accs)}, "test": {"accuracy": accs[-1] - 0.01}, "epochs_run": len(accs),
          "time_to_target_s": 100 * lr, "wall_time_s": 1.0}
with open(os.path.join(out, "report.json"), "w") as fh:
    json.dump(report, fh)
'''

SPACE = """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 0.001
high = 0.1
log = true
"""


@pytest.fixture
def fake(tmp_path, space_file):
    script = tmp_path / "fake_train.py"
    script.write_text(FAKE_TRAIN)
    return [sys.executable, str(script)], space_file(SPACE)


def _spec(tmp_path, space, **kwargs):
    return resolve_tune(preset="digits", space=space, overrides=["train.target={metric='val_accuracy',value=0.5}"],
                        out=tmp_path / "study", **kwargs)


@pytest.mark.parametrize("warmup", [1, 3])
def test_pruner_stops_a_bad_trial_from_its_epoch_values(tmp_path, fake, monkeypatch, warmup):
    cmd, space = fake
    spec = _spec(tmp_path, space, trials=4, seed=0, pruner_warmup=warmup)
    assert spec.pruner_text == f"median (warm-up {warmup} epoch{'s' if warmup > 1 else ''})"
    study, _ = prepare(spec)
    for lr in (0.01, 0.02, 0.03):  # three finished trials that reached 0.9 at every epoch
        study.add_trial(create_trial(params={"optimizer.learning_rate": lr},
                                     distributions={"optimizer.learning_rate": FloatDistribution(0.001, 0.1, log=True)},
                                     values=[0.9], intermediate_values={e: 0.9 for e in range(1, 5)}))
    # 12 epochs of 0.6 s: the run is still training when the worker stops it, even on a loaded machine
    monkeypatch.setenv("FAKE_ACCS", ",".join(f"{e / 10:.1f}" for e in range(1, 13)))
    monkeypatch.setenv("FAKE_SLEEP", "0.6")
    lines = []
    assert work(spec, train_cmd=cmd, progress=lines.append) == 1
    trial = study.get_trials()[-1]
    assert trial.state == TrialState.PRUNED and counted(trial)
    # epochs 1..warmup are the warm-up (never pruned, though below the median 0.9); the next one is judged
    judged = warmup + 1
    assert trial.user_attrs[REASON] == f"pruned after epoch {judged} (val_accuracy {judged / 10:.1f})"
    assert trial.intermediate_values == {e: pytest.approx(e / 10) for e in range(1, judged + 1)}
    run_dir = spec.out / "trials" / "0003"
    assert not (run_dir / "report.json").exists()  # the process was stopped, not left to finish
    time.sleep(1.5)
    assert len((run_dir / "metrics.csv").read_text().splitlines()) <= judged + 2  # and it stays stopped
    assert "[4/4] trial 3 PRUNED" in lines[-1] and f"pruned after epoch {judged}" in lines[-1]


def test_a_run_that_ends_while_the_pruner_decides_counts_as_complete(tmp_path, fake, monkeypatch):
    """The race: the pruner says stop, but the process has finished (exit 0, report written) before the stop."""
    import kerastricks.tune.worker as worker

    cmd, space = fake
    spec = _spec(tmp_path, space, trials=4, seed=0)
    study, _ = prepare(spec)
    for lr in (0.01, 0.02, 0.03):
        study.add_trial(create_trial(params={"optimizer.learning_rate": lr},
                                     distributions={"optimizer.learning_rate": FloatDistribution(0.001, 0.1, log=True)},
                                     values=[0.9], intermediate_values={e: 0.9 for e in range(1, 5)}))
    monkeypatch.setenv("FAKE_ACCS", "0.1,0.2,0.3,0.4")
    monkeypatch.setenv("FAKE_SLEEP", "0.3")
    monkeypatch.setattr(worker, "_stop", lambda proc: proc.wait())  # the run wins the race
    assert work(spec, train_cmd=cmd, progress=lambda line: None) == 1
    trial = study.get_trials()[-1]
    assert trial.state == TrialState.COMPLETE and trial.values == [0.4]
    assert trial.user_attrs["test_accuracy"] == pytest.approx(0.39)


def test_default_warmup_is_a_quarter_of_the_epochs_and_reaches_the_pruners(tmp_path, fake):
    from kerastricks.tune.study import make_pruner

    _, space = fake
    for epochs, warm in ((1, 1), (3, 1), (10, 3), (15, 4), (40, 10)):
        spec = resolve_tune(preset="digits", space=space, overrides=[f"train.epochs={epochs}"], out=tmp_path / "s")
        assert spec.warmup_epochs == warm and spec.pruner_text == f"median (warm-up {warm} epoch{'s' * (warm > 1)})"
        assert make_pruner(spec)._n_warmup_steps == warm + 1  # steps are 1-based epochs
    spec = resolve_tune(preset="digits", space=space, overrides=["train.epochs=8"], out=tmp_path / "s",
                        pruner="hyperband")
    assert spec.warmup_epochs is None and spec.pruner_text == "hyperband"  # Optuna's defaults
    spec.pruner_warmup = 2
    assert make_pruner(spec)._min_resource == 3
    spec.pruner = "halving"
    assert make_pruner(spec)._min_resource == 3
    # `--workers K` hands the setting to each worker process through the study directory
    spec.out.mkdir()
    prepare(spec)
    assert spec_from_dir(spec.out, runtime_settings(spec)).warmup_epochs == 2


def test_failed_run_is_recorded_with_its_reason_and_counted(tmp_path, fake, monkeypatch):
    cmd, space = fake
    spec = _spec(tmp_path, space, trials=1)
    study, _ = prepare(spec)
    monkeypatch.setenv("FAKE_EXIT", "3")
    work(spec, train_cmd=cmd, progress=lambda line: None)
    (trial,) = study.get_trials()
    assert trial.state == TrialState.FAIL and counted(trial)
    assert trial.user_attrs[REASON] == "run failed (diverged): fake trainer: loss became nan"
    summary = write_outputs(spec, study)
    assert summary["best"] == [] and "No trial completed." in (spec.out / "study.md").read_text()
    assert "fake trainer: loss became nan" in (spec.out / "trials.csv").read_text()


def test_stale_trials_fail_once_and_are_not_counted(tmp_path, fake):
    _, space = fake
    spec = _spec(tmp_path, space, trials=2, storage=f"journal:{tmp_path / 'journal.log'}")
    prepare(spec)
    study, storage = open_worker_study(spec, 0)
    trial = study.ask()  # a worker that asked, then was killed before its first heartbeat
    assert fail_stale(study, storage, grace=30) == []  # too recent
    assert fail_stale(study, storage, grace=30, now=time.time() + 31) == [trial.number]
    assert fail_stale(study, storage, grace=30, now=time.time() + 31) == []
    (frozen,) = study.get_trials()
    assert frozen.state == TrialState.FAIL and not counted(frozen)
    assert "no heartbeat" in frozen.user_attrs[REASON]


def test_two_objectives_give_a_pareto_front(tmp_path, fake):
    cmd, space = fake
    spec = _spec(tmp_path, space, trials=4, seed=1, sampler="random",
                 objectives=["val_accuracy:max", "time_to_target_s"])
    assert spec.pruner == "none"
    study, _ = prepare(spec)
    work(spec, train_cmd=cmd, progress=lambda line: None)
    summary = write_outputs(spec, study)
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    for t in trials:  # values read from each run: the fake's val_accuracy and time grow with the rate
        lr = t.params["optimizer.learning_rate"]
        assert t.values == pytest.approx([min(0.99, lr * 10), 100 * lr])
    # higher accuracy always costs more time here, except where accuracy saturates at 0.99
    front = {t.number for t in study.best_trials}
    expected = {t.number for t in trials if not any(
        o.values[0] >= t.values[0] and o.values[1] <= t.values[1] and o.values != t.values for o in trials)}
    assert front == expected and summary["best"][0] in front
    assert "pareto.png" in summary["plots"] and (spec.out / "pareto.png").stat().st_size > 0
    assert "## Pareto front" in (spec.out / "study.md").read_text()
    best = kio.read_json(spec.out / "tune.json")
    assert best["objectives"] == ["val_accuracy:max", "time_to_target_s:min"]


def test_grid_covers_every_point_once(tmp_path, fake, space_file):
    cmd, _ = fake
    space = space_file(SPACE.replace("log = true", "step = 0.01").replace("0.001", "0.01").replace("0.1", "0.03"),
                       "grid.toml")
    spec = _spec(tmp_path, space, sampler="grid", seed=0)
    assert spec.trials == 3  # the grid's size
    study, _ = prepare(spec)
    assert work(spec, train_cmd=cmd, progress=lambda line: None) == 3
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert sorted(t.params["optimizer.learning_rate"] for t in trials) == pytest.approx([0.01, 0.02, 0.03])


TWO_NUMBERS = SPACE + """
[[param]]
key = "optimizer.weight_decay"
type = "float"
low = 0.0001
high = 0.1
log = true
"""


def test_cmaes_models_the_space_after_its_startup_trials(tmp_path, fake, space_file):
    cmd, _ = fake
    # an SQLAlchemy URL other than the default file: the code path a PostgreSQL or MySQL URL takes
    db = tmp_path / "elsewhere" / "cma.db"
    db.parent.mkdir()
    spec = _spec(tmp_path, space_file(TWO_NUMBERS, "two.toml"), sampler="cmaes", startup_trials=2, trials=4, seed=0,
                 pruner="none", storage=f"sqlite:///{db}")
    assert spec.sampler_text == "cmaes (2 startup trials)"
    study, _ = prepare(spec)
    assert work(spec, train_cmd=cmd, progress=lambda line: None) == 4
    trials = study.get_trials()
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 and db.is_file()
    # CMA-ES marks the trials it proposed with its generation; the startup trials are independent random draws
    modelled = [any(k.endswith("generation") for k in t.system_attrs) for t in trials]
    assert modelled == [False, False, True, True]
    for t in trials:
        assert 0.0001 <= t.params["optimizer.weight_decay"] <= 0.1
        assert 0.001 <= t.params["optimizer.learning_rate"] <= 0.1
    write_outputs(spec, study)
    assert "sampler: cmaes (2 startup trials)" in (spec.out / "study.md").read_text()
    # `--workers K` hands the setting to each worker process through the study directory
    assert spec_from_dir(spec.out, runtime_settings(spec)).sampler_text == "cmaes (2 startup trials)"


@pytest.mark.parametrize("pruner", ["halving", "hyperband"])
def test_halving_and_hyperband_prune_a_bad_trial(tmp_path, fake, monkeypatch, pruner):
    cmd, space = fake
    overrides = ["train.epochs=6"]  # Hyperband's max_resource: the recipe's epochs, as many as the fake reports
    good, bad = "0.5,0.6,0.7,0.8,0.85,0.9", "0.05,0.06,0.07,0.08,0.09,0.1"
    # slow epochs: every run still trains when the worker reads its epochs, so the pruner sees each of them
    # (the good trials' values are the rungs the bad ones are compared with)
    monkeypatch.setenv("FAKE_SLEEP", "0.4")

    def run(trials, accs):
        monkeypatch.setenv("FAKE_ACCS", accs)
        spec = resolve_tune(preset="digits", space=space, overrides=overrides, out=tmp_path / "study", seed=0,
                            trials=trials, pruner=pruner)
        prepare(spec)
        work(spec, train_cmd=cmd, progress=lambda line: None)
        return optuna.load_study(study_name="digits", storage=f"sqlite:///{(tmp_path / 'study' / 'study.db')}")

    run(3, good)  # the first trials are never pruned: nothing to compare them with yet
    study = run(6, bad)
    trials = study.get_trials()
    assert [t.state for t in trials[:3]] == [TrialState.COMPLETE] * 3
    pruned = [t for t in trials[3:] if t.state == TrialState.PRUNED]
    assert pruned, [(t.number, t.state, t.intermediate_values) for t in trials]
    for t in pruned:  # stopped at an epoch where it was below the good trials, never after all six
        last = max(t.intermediate_values)
        value = t.intermediate_values[last]
        assert last < 6 and t.user_attrs[REASON] == f"pruned after epoch {last} (val_accuracy {value:.4g})"
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in trials)
