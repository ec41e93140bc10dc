"""Shared by the tune tests: writing a search-space file."""

import pytest


@pytest.fixture
def space_file(tmp_path):
    """``space_file(text, name="space.toml")`` writes a search-space file in the test's folder; returns its path."""

    def write(text: str, name: str = "space.toml") -> str:
        path = tmp_path / name
        path.write_text(text)
        return str(path)

    return write
