"""Atomic file output: every run artifact is written to a temp file, then renamed.

A killed run therefore never leaves a half-written report, checkpoint or plot
behind: a reader sees the old file or the new one, never a mix.
"""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success it replaces ``path``.

    The temporary name keeps ``path``'s suffix (``.keras``, ``.png``...) because
    some writers choose the format by extension.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix or "".join(path.suffixes[-1:]) or ".tmp",
                               dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _kill_point(path, tmp_path)
        # mkstemp makes 0600 files: give the result the mode of the file it
        # replaces, or the mode a plain open() would give under the umask.
        try:
            mode = stat.S_IMODE(os.stat(path).st_mode)
        except FileNotFoundError:
            mode = 0o666 & ~_umask()
        os.chmod(tmp_path, mode)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


#: Fault injection, for tests only: ``KERASTRICKS_KILL_AT=<file name>:<n>`` (e.g. ``last.npz:2``) makes the
#: ``n``-th atomic write of a file of that name cut its temp file to half its size and SIGKILL the process
#: before the rename, as a kill in the middle of the write would.
KILL_AT_ENV = "KERASTRICKS_KILL_AT"
_writes: collections.Counter[str] = collections.Counter()


def _kill_point(path: Path, tmp: Path) -> None:
    name, _, count = os.environ.get(KILL_AT_ENV, "").rpartition(":")
    if name != path.name:
        return
    _writes[name] += 1
    if _writes[name] == int(count):
        if tmp.is_file():
            os.truncate(tmp, tmp.stat().st_size // 2)
        os.kill(os.getpid(), signal.SIGKILL)


def _umask() -> int:
    """The process umask, read without changing it where the OS allows."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, data: Any) -> None:
    """Write strict JSON (RFC 8259): NaN and infinities become ``null``."""
    write_text(path, dumps(data) + "\n")


def dumps(data: Any, indent: int | None = 2) -> str:
    """Strict JSON text of ``data``: numpy values converted, non-finite floats as ``null``."""
    return json.dumps(finite(data), indent=indent, sort_keys=False, default=_json_default, allow_nan=False)


def finite(value: Any) -> Any:
    """``value`` with every non-finite float (also inside lists, tuples, dicts, numpy scalars) replaced by None."""
    import math

    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if type(value).__module__ == "numpy":
        value = _json_default(value)
        return finite(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _json_default(value: Any) -> Any:
    import numpy as np

    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def remove_temp_files(folder: str | Path) -> list[Path]:
    """Delete leftovers of :func:`atomic_path` (``.<name>.<random><suffix>``) that a killed process left in
    ``folder`` and its sub-folders; returns what was removed."""
    import re

    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    pattern = re.compile(r"^\.(.+)\.[A-Za-z0-9_]{8}(\.[A-Za-z0-9]+)?$")
    for path in folder.rglob(".*"):
        if path.is_file() and pattern.match(path.name):
            path.unlink()
            removed.append(path)
    return removed


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))
