"""Every study in benchmarks/studies resolves: its recipes and variants validate as kerastricks bench reads them."""

from pathlib import Path

import pytest

from kerastricks.bench.spec import read_bench_file, resolve_bench

STUDIES = sorted((Path(__file__).resolve().parents[2] / "benchmarks" / "studies").glob("*.toml"))


def test_studies_exist():
    assert len(STUDIES) >= 10


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_resolves(path):
    bench = read_bench_file(str(path))
    spec = resolve_bench(str(path))
    assert [v.name for v in spec.variants] == [v.name for v in bench["variants"]]
    assert len(spec.seeds) == bench["seeds"] if bench["seeds"] is not None else len(spec.seeds) == 3
    assert "kerastricks bench benchmarks/studies/" + path.name in path.read_text()  # the file says how to run it


_SIZES: dict[str, int] = {}


def _train_size(recipe) -> int:
    from kerastricks.train import load_recipe_dataset

    key = repr(sorted(recipe.data.items())) + str(recipe.train["seed"])
    if key not in _SIZES:
        _SIZES[key] = len(load_recipe_dataset(recipe).x_train)
    return _SIZES[key]


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_schedules_fit_their_runs(path):
    """Schedules are checked against the run's length only when a run starts: check every variant's here."""
    import math

    from kerastricks.schedules import build_schedule

    for variant in resolve_bench(str(path)).variants:
        recipe = variant.recipe
        options = recipe.options("optimizer")
        build_schedule(recipe.schedule["name"], recipe.options("schedule"),
                       learning_rate=float(options.get("learning_rate") or 1e-3),
                       steps_per_epoch=math.ceil(_train_size(recipe) / int(recipe.train["batch_size"])),
                       epochs=int(recipe.train["epochs"]), file=str(path))
