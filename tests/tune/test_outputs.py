"""What a study writes (trials.csv, study.md, best.toml, plots), from an in-memory Optuna study of hand-made
trials: no trial runs."""

import csv
import datetime

import pytest

optuna = pytest.importorskip("optuna")

from optuna.distributions import CategoricalDistribution, FloatDistribution  # noqa: E402
from optuna.trial import TrialState, create_trial  # noqa: E402

from kerastricks.recipes import load_recipe  # noqa: E402
from kerastricks.tune import outputs  # noqa: E402
from kerastricks.tune.outputs import best_trials, reason, write_outputs  # noqa: E402
from kerastricks.tune.study import resolve_tune  # noqa: E402
from kerastricks.tune.worker import REASON  # noqa: E402

SPACE = """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 0.001
high = 0.1
log = true
[[param]]
key = "schedule.name"
type = "categorical"
choices = ["cosine", "constant"]
"""
DISTRIBUTIONS = {"optimizer.learning_rate": FloatDistribution(0.001, 0.1, log=True),
                 "schedule.name": CategoricalDistribution(["cosine", "constant"])}
START = datetime.datetime(2026, 1, 1, 12, 0, 0)


def _trial(number, state=TrialState.COMPLETE, values=None, lr=0.01, schedule="cosine", seconds=10.0, **attrs):
    t = create_trial(state=state, values=values, params={"optimizer.learning_rate": lr, "schedule.name": schedule},
                     distributions=DISTRIBUTIONS, user_attrs=attrs)
    t.datetime_start = START
    t.datetime_complete = START + datetime.timedelta(seconds=seconds) if state.is_finished() else None
    return t


@pytest.fixture
def study_of(tmp_path, space_file):
    """``study_of(trials, objectives=None)``: (spec, in-memory study holding ``trials``)."""

    def make(trials, objectives=None):
        spec = resolve_tune(preset="digits", space=space_file(SPACE), out=tmp_path / "study",
                            objectives=objectives or [], command="kerastricks tune --preset digits")
        spec.out.mkdir(exist_ok=True)
        study = optuna.create_study(directions=[o.optuna_direction for o in spec.objectives])
        for t in trials:
            study.add_trial(t)
        return spec, study

    return make


def test_outputs_of_a_single_objective_study(study_of, monkeypatch):
    monkeypatch.setattr(outputs, "plots", lambda spec, study, out: [])  # the figures: the test below
    accuracies = [0.5, 0.9, 0.7, 0.9, 0.8, 0.6, 0.65, 0.55, 0.75, 0.85, 0.52, 0.51]  # trials 0..11
    trials = [_trial(i, values=[a], lr=0.001 + i / 1000, test_accuracy=a - 0.05, run_dir=f"trials/{i:04d}",
                     worker=i % 2, epoch_seen_s=[1.0, 2.0]) for i, a in enumerate(accuracies)]
    trials.append(_trial(12, state=TrialState.PRUNED, lr=0.05, schedule="constant", seconds=3.0,
                         **{REASON: "pruned at epoch 2 (val_accuracy 0.1)"}, epoch_seen_s=[1.0, 2.0]))
    trials.append(_trial(13, state=TrialState.FAIL, lr=0.09, seconds=1.5))
    spec, study = study_of(trials)
    summary = write_outputs(spec, study)
    # best first, ties by trial number (trials 1 and 3 both reach 0.9)
    order = sorted(range(12), key=lambda i: (-accuracies[i], i))
    assert summary["best"] == order and summary["files"] == ["trials.csv", "study.md", "best.toml"]

    with open(spec.out / "trials.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["number", "state", "val_accuracy", "test_accuracy", "duration_s", "epochs", "counted",
                             "reason", "optimizer.learning_rate", "schedule.name", "run_dir", "worker"]
    assert [r["number"] for r in rows] == [str(i) for i in range(14)]
    assert rows[1] == {"number": "1", "state": "COMPLETE", "val_accuracy": "0.9", "test_accuracy": str(0.9 - 0.05),
                       "duration_s": "10.0", "epochs": "2", "counted": "True", "reason": "",
                       "optimizer.learning_rate": "0.002", "schedule.name": "cosine", "run_dir": "trials/0001",
                       "worker": "1"}
    assert (rows[12]["state"], rows[12]["val_accuracy"], rows[12]["reason"], rows[12]["duration_s"]) == (
        "PRUNED", "", "pruned at epoch 2 (val_accuracy 0.1)", "3.0")
    assert (rows[13]["state"], rows[13]["counted"], rows[13]["reason"], rows[13]["epochs"]) == (
        "FAIL", "False", "failed (no reason recorded)", "")

    md = (spec.out / "study.md").read_text()
    assert md.startswith("# Study `digits`\n\nCommand: `kerastricks tune --preset digits`")
    assert "- trials: 12 complete, 1 fail, 1 pruned" in md and "- objectives: val_accuracy:max" in md
    table = [line for line in md.splitlines() if line.startswith("| ") and line[2].isdigit()]
    best_rows, stopped_rows = table[:outputs.TOP], table[outputs.TOP:]
    assert [int(line.split("|")[1]) for line in best_rows] == order[:outputs.TOP]  # the top 10 only
    assert best_rows[0] == "| 1 | 0.9 | 0.85 | 10 | 0.002 | cosine |"
    assert stopped_rows == ["| 12 | PRUNED | pruned at epoch 2 (val_accuracy 0.1) |",
                            "| 13 | FAIL | failed (no reason recorded) |"]
    assert f"trial 1's recipe: `kerastricks train {spec.out / 'best.toml'}`" in md

    text = (spec.out / "best.toml").read_text()
    assert text.startswith("# best trial 1 of study digits (val_accuracy 0.9); searched values:\n"
                           "#   optimizer.learning_rate = 0.002\n#   schedule.name = \"cosine\"\n")
    best = load_recipe(spec.out / "best.toml")
    assert best.optimizer["learning_rate"] == 0.002 and best.schedule["name"] == "cosine"
    # everything the study did not search is the base recipe's
    assert best.to_dict()["model"] == spec.base.to_dict()["model"]
    assert best.train.to_dict() == spec.base.train.to_dict()


def test_a_study_without_a_completed_trial_writes_no_best_recipe(study_of):
    spec, study = study_of([_trial(0, state=TrialState.PRUNED), _trial(1, state=TrialState.RUNNING)])
    summary = write_outputs(spec, study)
    assert summary["best"] == [] and summary["plots"] == [] and summary["files"] == ["trials.csv", "study.md"]
    assert not (spec.out / "best.toml").exists()
    md = (spec.out / "study.md").read_text()
    assert "No trial completed." in md and "| 0 | PRUNED | pruned |" in md and "| 1 |" not in md
    with open(spec.out / "trials.csv", newline="") as fh:
        running = list(csv.DictReader(fh))[1]
    assert (running["state"], running["duration_s"], running["counted"]) == ("RUNNING", "", "False")
    assert reason(study.get_trials()[1]) == ""  # a running trial has no reason


def test_pareto_front_of_two_objectives_best_first_by_the_first(study_of):
    # (val_accuracy max, wall_time_s min)
    points = [(0.9, 30.0), (0.8, 10.0), (0.85, 40.0), (0.7, 5.0), (0.9, 20.0), (0.6, 50.0)]
    spec, study = study_of([_trial(i, values=list(v)) for i, v in enumerate(points)],
                           objectives=["val_accuracy", "wall_time_s"])
    front = [i for i, (a, s) in enumerate(points)
             if not any(b >= a and t <= s and (b, t) != (a, s) for b, t in points)]
    got = [t.number for t in best_trials(spec, study)]
    assert sorted(got) == front == [1, 3, 4]
    assert got == sorted(front, key=lambda i: (-points[i][0], i))
    md = outputs.markdown(spec, study, outputs.trial_rows(spec, study.get_trials()), best_trials(spec, study))
    assert "## Pareto front" in md and "| 4 | 0.9 | 20 |" in md
    assert "(val_accuracy 0.9, wall_time_s 20)" in outputs.best_toml(spec, study.get_trials()[4])


def test_plots_of_a_study(study_of):
    spec, study = study_of([_trial(i, values=[0.5 + i / 10], lr=0.001 * (i + 1)) for i in range(3)])
    assert outputs.plots(spec, study, spec.out) == ["history.png", "importances.png"]
    for name in ("history.png", "importances.png"):
        assert (spec.out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in spec.out.iterdir() if p.name.startswith(".")] == []  # no temp file left
    one, study = study_of([_trial(0, values=[0.5])])
    assert outputs.plots(one, study, one.out) == ["history.png"]  # nothing varies: no importances
