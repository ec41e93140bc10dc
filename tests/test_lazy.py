"""Lazy imports (``kerastricks._lazy``): a module proxy imports on first attribute, targets resolve
``"module:attr.attr"``, and lazy exports cache what they load."""

import sys
import types

import pytest

from kerastricks._lazy import LazyModule, lazy_exports, load_target


def test_lazy_module_imports_on_first_attribute(monkeypatch):
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)
    proxy = LazyModule("colorsys")
    assert "colorsys" not in sys.modules and repr(proxy) == "<lazy module 'colorsys'>"
    assert proxy.rgb_to_hsv(1.0, 0.0, 0.0) == (0.0, 1.0, 1.0)
    assert "colorsys" in sys.modules and "rgb_to_hsv" in dir(proxy)


def test_load_target_resolves_dotted_attributes():
    assert load_target("os.path:join.__name__") == "join"
    assert load_target("os:path") is sys.modules["os"].path
    assert load_target("json") is sys.modules["json"]  # a bare module name: the module
    sentinel = object()
    assert load_target(sentinel) is sentinel  # not a string: passes through
    with pytest.raises(AttributeError):
        load_target("os:no_such_name")


def test_lazy_exports_load_once_and_reject_unknown_names(monkeypatch):
    module = types.ModuleType("kt_lazy_probe")
    monkeypatch.setitem(sys.modules, "kt_lazy_probe", module)
    module.__getattr__ = lazy_exports("kt_lazy_probe", {"dumps": "json:dumps"})
    import json

    assert module.dumps is json.dumps
    assert module.__dict__["dumps"] is json.dumps  # cached on the module: later reads skip __getattr__
    with pytest.raises(AttributeError, match="kt_lazy_probe.*'loads'"):
        module.loads  # noqa: B018
