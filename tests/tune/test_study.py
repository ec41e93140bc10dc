"""A study's definition, storage and the checks before any trial (no trial runs here; the trial loop is
test_worker.py, the command line test_cli_tune.py)."""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

optuna = pytest.importorskip("optuna")

from kerastricks import io as kio  # noqa: E402
from kerastricks.errors import ConfigError, RunDirError  # noqa: E402
from kerastricks.tune.objective import Objective  # noqa: E402
from kerastricks.tune.study import (  # noqa: E402
    ATTR,
    DEFAULT_GRACE_S,
    DEFAULT_TRIALS,
    GRACE_ENV,
    TUNE_JSON,
    _first_difference,
    check_study_dir,
    grace_seconds,
    make_pruner,
    make_sampler,
    make_storage,
    open_study,
    resolve_tune,
    runtime_settings,
    spec_from_dir,
)

SPACE = """
[[param]]
key = "optimizer.learning_rate"
type = "float"
low = 0.001
high = 0.1
log = true
[[param]]
key = "model.width"
type = "int"
low = 8
high = 16
step = 4
"""
GRID = SPACE.replace("log = true", "step = 0.0495")  # 0.001, 0.0505, 0.1: three values


@pytest.fixture
def spec(tmp_path, space_file):
    """``spec(**kwargs)``: a study of the digits preset over SPACE, its directory in the test's folder."""

    def make(space=SPACE, **kwargs):
        kwargs.setdefault("out", tmp_path / "study")
        return resolve_tune(preset="digits", space=space_file(space), **kwargs)

    return make


def test_defaults_follow_the_objectives(spec, tmp_path):
    single = spec()
    assert [o.text() for o in single.objectives] == ["val_accuracy:max"]  # digits has validation data
    assert (single.pruner, single.sampler, single.trials, single.study_name) == ("median", "tpe", DEFAULT_TRIALS,
                                                                                  "digits")
    assert single.storage_url == f"sqlite:///{(tmp_path / 'study' / 'study.db').resolve()}"
    # a run-level objective or several objectives: nothing to prune per epoch
    assert spec(objectives=["wall_time_s"]).pruner == "none"
    assert spec(objectives=["val_accuracy", "params"]).pruner == "none"
    # without validation data the default objective is the training accuracy
    no_val = spec(overrides=["data.validation_split=0", "train.monitor=last", "train.target.metric=accuracy"])
    assert [o.text() for o in no_val.objectives] == ["accuracy:max"]
    # a timeout alone sets no trial count; the grid caps --trials at its size (3 rates x 3 widths)
    assert spec(timeout=60.0).trials is None
    assert spec(GRID, sampler="grid").trials == 9 and spec(GRID, sampler="grid", trials=4).trials == 4
    assert spec(GRID, sampler="grid").grid == {"optimizer.learning_rate": [0.001, 0.0505, 0.1],
                                               "model.width": [8, 12, 16]}
    assert spec(out=None, root=tmp_path / "root").out == tmp_path / "root" / "digits"
    assert spec(startup_trials=3).sampler_text == "tpe (3 startup trials)"


@pytest.mark.parametrize(
    "kwargs, key, expected, received",
    [
        ({"sampler": "bayes"}, "--sampler", "one of tpe, random, grid, cmaes", "bayes"),
        ({"pruner": "asha"}, "--pruner", "one of median, halving, hyperband, none", "asha"),
        ({"objectives": ["val_loss", "val_loss:max"]}, "--objective", "distinct metrics", ["val_loss", "val_loss"]),
        ({"objectives": ["val_loss", "params"], "pruner": "median"}, "--pruner",
         "--pruner none with several objectives", "median"),
        ({"objectives": ["wall_time_s"], "pruner": "halving"}, "--pruner", "--pruner none, or a per-epoch", "halving"),
        ({"objectives": ["val_loss", "params"], "sampler": "cmaes"}, "--sampler", "tpe, random or grid", "cmaes"),
        ({"sampler": "grid", "startup_trials": 2}, "--startup-trials", "--sampler tpe or cmaes", 2),
        ({"study": "my study"}, "--study", "letters, digits", "my study"),
        ({"study": ".hidden"}, "--study", "letters, digits", ".hidden"),
    ],
)
def test_bad_settings_name_key_expected_and_received(spec, kwargs, key, expected, received):
    space = GRID if kwargs.get("sampler") == "grid" else SPACE
    with pytest.raises(ConfigError) as info:
        spec(space, **kwargs)
    assert info.value.key == key and str(info.value.expected).startswith(expected)
    assert info.value.received == received


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr), st.text(max_size=8)))
def test_grace_is_a_positive_finite_number_of_seconds_or_the_default(monkeypatch, text):
    with monkeypatch.context() as m:
        m.setenv(GRACE_ENV, text.replace("\x00", ""))
        try:
            want = float(text.replace("\x00", ""))
        except ValueError:
            want = DEFAULT_GRACE_S
        if not (math.isfinite(want) and want > 0):
            want = DEFAULT_GRACE_S
        assert grace_seconds() == want
    assert grace_seconds() == DEFAULT_GRACE_S  # unset


@settings(max_examples=60, deadline=None)
@given(a=st.lists(st.sampled_from(["x = 1", "y = 2", "[train]", ""]), max_size=6),
       b=st.lists(st.sampled_from(["x = 1", "y = 3", "[data]", ""]), max_size=6))
def test_first_difference_is_the_first_line_that_differs(a, b):
    text_a, text_b = "\n".join(a), "\n".join(b)
    lines_a, lines_b = text_a.splitlines(), text_b.splitlines()
    # reference: lines compared one by one, a missing line reading as an empty one
    pairs = [((lines_a[i:i + 1] or [""])[0], (lines_b[i:i + 1] or [""])[0])
             for i in range(max(len(lines_a), len(lines_b)))]
    first = next(((x or "(nothing)", y or "(nothing)") for x, y in pairs if x != y), None)
    # texts that differ only in trailing empty lines have no differing line: both are shown whole
    assert _first_difference(text_a, text_b) == (first if first is not None else (text_a, text_b))


def test_study_directory_checks(spec, tmp_path):
    mine = spec()
    assert check_study_dir(mine) is False  # absent
    mine.out.mkdir()
    assert check_study_dir(mine) is False  # empty
    (mine.out / "notes.txt").write_text("keep")
    with pytest.raises(RunDirError, match="not a study directory; nothing was overwritten") as info:
        check_study_dir(mine)
    assert (info.value.file, info.value.key) == (str(mine.out), "--out")
    (mine.out / TUNE_JSON).write_text("{torn")
    with pytest.raises(RunDirError, match="unreadable tune.json"):
        check_study_dir(mine)
    kio.write_json(mine.out / TUNE_JSON, mine.to_json())
    assert check_study_dir(mine) is True  # this study: a continuation
    assert (mine.out / "notes.txt").read_text() == "keep"

    other_name = spec(study="other")
    with pytest.raises(RunDirError) as info:
        check_study_dir(other_name)
    assert (info.value.key, info.value.expected, info.value.received) == ("--study", "digits", "other")
    other_recipe = spec(overrides=["train.epochs=7"])
    with pytest.raises(ConfigError, match="exists with a different base recipe") as info:
        check_study_dir(other_recipe)
    assert (info.value.key, info.value.expected, info.value.received) == ("RECIPE/--set", "epochs = 30",
                                                                          "epochs = 7")
    assert info.value.file == str(mine.out / TUNE_JSON)
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(RunDirError, match="not a directory"):
        check_study_dir(spec(out=afile))


def test_storage_urls(tmp_path):
    from optuna.storages import JournalStorage, RDBStorage

    assert isinstance(make_storage(f"journal:{tmp_path / 'j.log'}"), JournalStorage)
    assert isinstance(make_storage(f"sqlite:///{tmp_path / 's.db'}"), RDBStorage)
    for url, fragment in [(f"journal:{tmp_path / 'no' / 'j.log'}", "journal file's folder does not exist"),
                          ("study.db", "expected an SQLAlchemy URL"),
                          ("nosuchdialect://host/db", "cannot open the storage")]:
        with pytest.raises(ConfigError, match=fragment) as info:
            make_storage(url)
        assert info.value.key == "--storage" and info.value.received == url


def test_open_study_creates_continues_and_refuses_another_definition(spec, tmp_path):
    storage = f"journal:{tmp_path / 'j.log'}"
    mine = spec(storage=storage, objectives=["val_loss"])
    assert open_study(mine, create=False) is None
    study = open_study(mine, create=True)
    assert study.user_attrs[ATTR] == mine.definition()
    assert study.directions == [optuna.study.StudyDirection.MINIMIZE]
    again = open_study(mine, create=False)
    assert again._study_id == study._study_id
    with pytest.raises(ConfigError, match="exists with a different objectives") as info:
        open_study(spec(storage=storage, objectives=["val_accuracy"]), create=True)
    assert (info.value.key, info.value.file) == ("--objective", storage)
    assert info.value.expected == '["val_loss:min"]' and info.value.received == '["val_accuracy:max"]'
    optuna.create_study(storage=make_storage(storage), study_name="foreign")
    with pytest.raises(ConfigError, match="not made by kerastricks tune") as info:
        open_study(spec(storage=storage, study="foreign"), create=True)
    assert info.value.key == "--study"


def test_a_worker_rebuilds_the_spec_from_the_study_directory(spec):
    for sampler, space in (("tpe", SPACE), ("grid", GRID)):
        mine = spec(space, sampler=sampler, objectives=["val_accuracy", "params:min"], seed=3, trials=5,
                    overrides=["train.epochs=4"], command="kerastricks tune ...")
        mine.out.mkdir(exist_ok=True)
        kio.write_json(mine.out / TUNE_JSON, mine.to_json())
        rebuilt = spec_from_dir(mine.out, runtime_settings(mine))
        assert rebuilt.definition() == mine.definition()
        assert rebuilt.params == mine.params and rebuilt.objectives == mine.objectives
        assert rebuilt.objectives[1] == Objective("params", "min")
        assert rebuilt.to_json() == mine.to_json()
        assert runtime_settings(rebuilt) == runtime_settings(mine)
        assert rebuilt.grid == mine.grid
        assert rebuilt.base.train.epochs == 4


def test_samplers_and_pruners_by_name(spec):
    samplers = {"tpe": optuna.samplers.TPESampler, "random": optuna.samplers.RandomSampler,
                "grid": optuna.samplers.GridSampler}
    for name, cls in samplers.items():
        assert isinstance(make_sampler(spec(GRID if name == "grid" else SPACE, sampler=name, seed=1), index=2), cls)
    pruners = {"median": optuna.pruners.MedianPruner, "halving": optuna.pruners.SuccessiveHalvingPruner,
               "hyperband": optuna.pruners.HyperbandPruner, "none": optuna.pruners.NopPruner}
    for name, cls in pruners.items():
        assert isinstance(make_pruner(spec(pruner=name)), cls)
    # each worker draws its own sequence from the study's seed: index i uses seed + i
    one, two = spec(sampler="random", seed=5), spec(sampler="random", seed=6)
    dist = optuna.distributions.FloatDistribution(0.0, 1.0)

    def first_draw(s, index):
        study = optuna.create_study(sampler=make_sampler(s, index=index))
        return study.sampler.sample_independent(study, study.ask(), "x", dist)

    assert first_draw(one, 1) == first_draw(two, 0) != first_draw(one, 0)
