"""Atomic writes: replace on success only, keep the suffix, leave no temp files."""

import json
import stat
from pathlib import Path

import numpy as np
import pytest

from kerastricks import io as kio


def test_replaces_on_success_and_keeps_suffix(tmp_path):
    target = tmp_path / "sub" / "dir" / "model.keras"
    with kio.atomic_path(target) as tmp:
        assert tmp.parent == target.parent and tmp != target
        assert tmp.suffix == ".keras" and tmp.name.startswith(".model.keras.")
        tmp.write_text("new")
        assert not target.exists()  # nothing visible before success
    assert target.read_text() == "new"
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.keras"]


def test_suffix_override_and_fallback(tmp_path):
    with kio.atomic_path(tmp_path / "plot.png", suffix=".svg") as tmp:
        assert tmp.suffix == ".svg"
        tmp.write_text("x")
    with kio.atomic_path(tmp_path / "README") as tmp:
        assert tmp.suffix == ".tmp"
        tmp.write_text("y")
    with kio.atomic_path(tmp_path / "data.tar.gz") as tmp:
        assert tmp.name.endswith(".gz")
        tmp.write_text("z")
    assert (tmp_path / "plot.png").read_text() == "x" and (tmp_path / "README").read_text() == "y"


def test_exception_leaves_old_file_and_no_temp(tmp_path):
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError, match="boom"), kio.atomic_path(target) as tmp:
        tmp.write_text("half-writ")
        raise RuntimeError("boom")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_exception_before_any_file_leaves_nothing(tmp_path):
    with pytest.raises(KeyError), kio.atomic_path(tmp_path / "x.csv"):
        raise KeyError("k")
    assert list(tmp_path.iterdir()) == []


def test_writer_that_removes_or_replaces_its_temp_file(tmp_path):
    # Some writers (Keras's save) delete and recreate the file at the given path.
    target = tmp_path / "m.bin"
    with kio.atomic_path(target) as tmp:
        tmp.unlink()
        tmp.write_bytes(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_result_has_the_usual_permissions(tmp_path):
    # mkstemp creates 0600 files; the artifact should get the mode a plain open() gives.
    plain = tmp_path / "plain.txt"
    plain.write_text("a")
    kio.write_text(tmp_path / "atomic.txt", "a")
    assert stat.S_IMODE((tmp_path / "atomic.txt").stat().st_mode) == stat.S_IMODE(plain.stat().st_mode)


def test_existing_file_keeps_its_mode(tmp_path):
    target = tmp_path / "run.sh"
    target.write_text("old")
    target.chmod(0o750)
    kio.write_text(target, "new")
    assert stat.S_IMODE(target.stat().st_mode) == 0o750 and target.read_text() == "new"


def test_write_text_utf8(tmp_path):
    kio.write_text(tmp_path / "t.txt", "héllo → ✓")
    assert (tmp_path / "t.txt").read_bytes().decode("utf-8") == "héllo → ✓"


def test_write_json_handles_numpy_and_paths(tmp_path):
    data = {
        "i": np.int64(3), "f": np.float32(0.5), "d": np.float64(0.25), "b": np.bool_(True),
        "a": np.arange(3, dtype=np.int32), "m": np.eye(2, dtype=np.float32), "p": Path("runs/x"),
        "nested": [{"x": np.int8(-1)}], "nan": float("nan"),
    }
    kio.write_json(tmp_path / "r.json", data)
    text = (tmp_path / "r.json").read_text()
    assert text.endswith("\n")
    back = kio.read_json(tmp_path / "r.json")
    assert back["i"] == 3 and type(back["i"]) is int
    assert back["f"] == 0.5 and back["d"] == 0.25 and back["b"] is True
    assert back["a"] == [0, 1, 2] and back["m"] == [[1.0, 0.0], [0.0, 1.0]]
    assert back["p"] == "runs/x" and back["nested"] == [{"x": -1}]
    assert back["nan"] is None  # strict JSON: non-finite numbers are written as null
    assert "NaN" not in text and "Infinity" not in text
    assert list(back) == list(data)  # key order kept
    assert json.loads(text) == back


def test_write_json_rejects_unknown_objects_without_touching_the_file(tmp_path):
    target = tmp_path / "r.json"
    kio.write_json(target, {"ok": 1})
    with pytest.raises(TypeError, match="not JSON serializable: object"):
        kio.write_json(target, {"bad": object()})
    assert kio.read_json(target) == {"ok": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]
