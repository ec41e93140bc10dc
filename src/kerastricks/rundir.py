"""Run directories: names, claims, the files a run writes, and clean-up after a kill."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from kerastricks.errors import RunDirError

RECIPE_FILE = "recipe.toml"
REPORT_FILE = "report.json"
METRICS_FILE = "metrics.csv"
MODEL_FILE = "model.keras"
CHECKPOINT_FILE = Path("checkpoints") / "last.npz"
LOGS_DIR = "logs"
#: How many times the run was resumed (counted at each resume, before any work: a resume killed
#: before its first checkpoint still counts).
RESUMES_FILE = Path("checkpoints") / "resumes.txt"


def make_run_dir(root: str | Path, name: str) -> Path:
    """Create a new, unique ``root/<name>-<UTC time>`` directory."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = f"{name}-{stamp}"
    for i in range(1000):
        candidate = root / (base if i == 0 else f"{base}-{i + 1}")
        try:
            candidate.mkdir()
            return candidate
        except FileExistsError:
            continue
    raise RunDirError("cannot create a unique run directory", file=str(root))  # pragma: no cover


def check_out_dir(path: str | Path, hint: str = "choose a new --out or continue it with --resume") -> Path:
    """Raise ``RunDirError`` unless ``path`` can become a run directory (absent or empty)."""
    path = Path(path)
    check_parent(path)
    if path.exists():
        if not path.is_dir():
            raise RunDirError("exists and is not a directory", file=str(path), key="--out")
        if any(path.iterdir()):
            raise RunDirError(
                "already exists and is not empty; nothing was overwritten",
                file=str(path),
                key="--out",
                hint=hint,
            )
    return path


def claim_out_dir(path: str | Path, hint: str = "choose a new --out or continue it with --resume") -> Path:
    """Use ``path`` as the run directory; it must not exist or be empty."""
    path = check_out_dir(path, hint)
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_runs_root(root: str | Path, key: str = "--runs-root") -> Path:
    """Raise ``RunDirError`` unless ``root`` is, or can become, a directory (no part of it is a file)."""
    root = Path(root)
    _nearest_is_dir((root, *root.parents), "is a file, not a directory", key, "a directory for run directories")
    return root


def check_parent(path: str | Path, key: str = "--out") -> None:
    """Raise ``RunDirError`` if a parent of ``path`` exists as a file (the directory could never be made)."""
    _nearest_is_dir(Path(path).parents, "a parent of the output directory is a file", key, "a directory")


def _nearest_is_dir(candidates, message: str, key: str, expected: str) -> None:
    """The first of ``candidates`` (a path, then its parents) that exists must be a directory."""
    for path in candidates:
        if path.exists():
            if not path.is_dir():
                raise RunDirError(message, file=str(path), key=key, expected=expected, received="a file")
            return
