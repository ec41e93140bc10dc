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
