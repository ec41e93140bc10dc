"""The README's and the docs' Python examples run as written (each block in a fresh namespace).

Every fenced block opened with ```python (or ```py) in README.md and docs/**/*.md is one test case, id
``file:line``; a block that is not meant to run is not a python block (```text, ```toml, ```bash).
Each block runs in a temporary directory; registries and the global dtype policy are restored after
it, so an example that registers a technique or sets mixed precision does not leak into the next one.
The scripts in examples/ (longer runs that cards quote numbers from) are compiled, not run.
"""

import re
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
EXAMPLES = sorted((ROOT / "examples").glob("*.py"))
# An opening fence at the start of a line, with its info string ("python", "py", maybe attributes after
# a space), up to the next closing fence of at least as many backticks at the start of a line.
FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,})[ \t]*(?P<info>[^\n`]*)\n(?P<code>.*?)"
                   r"^[ \t]*(?P=fence)`*[ \t]*$", re.S | re.M)
PYTHON = {"python", "py", "python3"}


def blocks():
    for path in DOCS:
        text = path.read_text()
        for match in FENCE.finditer(text):
            info = match.group("info").split()
            if info and info[0].lower() in PYTHON:
                line = text.count("\n", 0, match.start()) + 1
                # blank lines in front: a traceback names the line of the .md file
                code = "\n" * line + textwrap.dedent(match.group("code"))
                yield pytest.param(path, code, id=f"{path.relative_to(ROOT)}:{line}")


def test_every_python_fence_is_collected():
    """Each line opening a python fence belongs to exactly one collected block (none slips past the regex)."""
    for path in DOCS:
        opened = [i for i, line in enumerate(path.read_text().splitlines(), 1)
                  if re.match(r"^[ \t]*`{3,}[ \t]*(python3?|py)\b", line, re.I)]
        found = [int(p.id.rsplit(":", 1)[1]) for p in blocks() if p.values[0] == path]
        assert found == opened, path


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A temp working directory; registries and the dtype policy as they were before the example."""
    monkeypatch.chdir(tmp_path)  # examples that write files write them here
    import keras

    from kerastricks.registry import Registry

    registries = [obj for module in _registry_modules() for obj in vars(module).values()
                  if isinstance(obj, Registry)]
    saved = [(r, dict(r._entries)) for r in registries]
    policy = keras.mixed_precision.global_policy()
    yield
    keras.mixed_precision.set_global_policy(policy)
    for registry, entries in saved:
        registry._entries.clear()
        registry._entries.update(entries)


def _registry_modules():
    import importlib

    names = ("kerastricks.techniques.base", "kerastricks.models", "kerastricks.models.blocks",
             "kerastricks.optimizers.registry", "kerastricks.schedules.builders", "kerastricks.losses.builders",
             "kerastricks.data.datasets", "kerastricks.data.augment", "kerastricks.recipes.loading")
    return [importlib.import_module(name) for name in names]


@pytest.mark.parametrize("path, code", list(blocks()))
def test_example_runs(path, code, isolated):
    exec(compile(code, str(path), "exec"), {"__name__": "__doc_example__"})


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_script_compiles(path):
    compile(path.read_text(), str(path), "exec")
