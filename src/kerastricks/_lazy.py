"""Lazy imports: names that import their module on first use.

The command line validates recipes, lists registries and prints errors without
importing Keras or TensorFlow (about 7 s here). Modules that only *use* Keras
inside function bodies (model builders, schedule and loss builders, technique
adapters) import ``keras`` from here; the real import happens the first time an
attribute is read, i.e. when something is actually built.
"""

from __future__ import annotations

import importlib
import types
from typing import Any


class LazyModule(types.ModuleType):
    """A module proxy that imports ``name`` when an attribute is first read."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_lazy_target"] = name

    def _load(self) -> types.ModuleType:
        return importlib.import_module(self.__dict__["_lazy_target"])

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __dir__(self) -> list[str]:
        return dir(self._load())

    def __repr__(self) -> str:
        return f"<lazy module {self.__dict__['_lazy_target']!r}>"


keras = LazyModule("keras")


def load_target(target: Any) -> Any:
    """Resolve ``"package.module:attr"`` to the object (other values pass through)."""
    if not isinstance(target, str):
        return target
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        obj = getattr(obj, part)
    return obj


def lazy_exports(module_name: str, exports: dict[str, str]):
    """A module ``__getattr__`` that imports ``exports[name]`` (``"module:attr"``) on first access."""

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            raise AttributeError(f"module {module_name!r} has no attribute {name!r}")
        value = load_target(target)
        import sys

        setattr(sys.modules[module_name], name, value)
        return value

    return __getattr__
