"""A controllable clock for the callbacks that time epochs."""

import types

import pytest


class FakeClock:
    """Stands in for ``time.perf_counter``; tests move ``now`` by hand."""

    def __init__(self, start: float = 1000.0):
        self.now = start

    def perf_counter(self):
        return self.now


@pytest.fixture
def fake_clock(monkeypatch):
    """``fake_clock(module)`` replaces that module's ``time`` name (not the global module)."""

    def install(module):
        clock = FakeClock()
        monkeypatch.setattr(module, "time", types.SimpleNamespace(perf_counter=clock.perf_counter))
        return clock

    return install
