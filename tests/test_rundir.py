"""Run directories (``kerastricks.rundir``): unique names under a root, claims that never overwrite, and one-line
refusals naming the path and the option when a directory could never be made."""

import re

import pytest

from kerastricks.errors import RunDirError
from kerastricks.rundir import check_out_dir, check_parent, check_runs_root, claim_out_dir, make_run_dir


def test_make_run_dir_names_are_unique_and_stamped(tmp_path):
    made = [make_run_dir(tmp_path / "runs", "digits-mlp") for _ in range(3)]
    assert len({p.name for p in made}) == 3 and all(p.is_dir() and p.parent == tmp_path / "runs" for p in made)
    stamp = r"digits-mlp-\d{8}-\d{6}"
    assert all(re.fullmatch(stamp + r"(-\d+)?", p.name) for p in made)
    if made[1].name.startswith(made[0].name):  # made in the same second: the suffix makes it unique
        assert made[1].name == made[0].name + "-2"


def test_claim_takes_an_absent_or_empty_directory_only(tmp_path):
    assert claim_out_dir(tmp_path / "a" / "b").is_dir()  # absent: made, parents too
    assert claim_out_dir(tmp_path / "a" / "b") == tmp_path / "a" / "b"  # empty: fine
    (tmp_path / "a" / "b" / "report.json").write_text("{}")
    with pytest.raises(RunDirError) as info:
        claim_out_dir(tmp_path / "a" / "b")
    line = info.value.line()
    assert "--out" in line and "nothing was overwritten" in line and "--resume" in line and "\n" not in line
    assert (tmp_path / "a" / "b" / "report.json").read_text() == "{}"
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunDirError, match="not a directory"):
        check_out_dir(tmp_path / "file")


def test_a_file_in_the_way_is_refused_before_anything_is_made(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(RunDirError) as info:
        check_out_dir(tmp_path / "f" / "run")
    assert "a parent of the output directory is a file" in info.value.line() and "--out" in info.value.line()
    with pytest.raises(RunDirError, match="--runs-root"):
        check_runs_root(tmp_path / "f" / "deeper" / "runs")
    with pytest.raises(RunDirError, match="--here"):
        check_parent(tmp_path / "f" / "x", key="--here")
    assert check_runs_root(tmp_path / "new" / "runs") == tmp_path / "new" / "runs"
    assert not (tmp_path / "new").exists()  # checks make nothing
