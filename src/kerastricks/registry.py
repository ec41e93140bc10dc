"""Name -> object registries that power recipe validation and ``kerastricks list``.

One registry per family (datasets, models, optimizers, schedules, losses,
techniques). Look-ups are case-insensitive and treat ``-`` and ``_`` alike; an
unknown name raises :class:`~kerastricks.errors.ConfigError` with the closest
valid name suggested, so the list a user sees is the list the code accepts.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from kerastricks.errors import ConfigError

T = TypeVar("T")


def normalize_name(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


@dataclass(frozen=True)
class Entry(Generic[T]):
    """One registered object with its metadata."""

    name: str
    obj: T
    description: str
    defaults: dict[str, Any] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)


class Registry(Generic[T]):
    """A case-insensitive registry of named objects with descriptions.

    Args:
        kind: What the registry holds, in the singular (``"model"``); used in
            error messages.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def register(
        self,
        name: str,
        obj: T | None = None,
        *,
        description: str,
        defaults: dict[str, Any] | None = None,
        **meta: Any,
    ) -> Any:
        """Register ``obj`` under ``name``; without ``obj``, act as a decorator."""

        def add(target: T) -> T:
            key = normalize_name(name)
            if key in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[key] = Entry(name, target, description, dict(defaults or {}), dict(meta))
            return target

        if obj is None:
            return add
        return add(obj)

    def get(self, name: str, *, key: str | None = None) -> Entry[T]:
        """The entry for ``name``; unknown names raise ``ConfigError`` with a suggestion."""
        norm = normalize_name(name)
        if norm in self._entries:
            return self._entries[norm]
        close = difflib.get_close_matches(norm, list(self._entries), n=1, cutoff=0.5)
        hint = f"did you mean '{self._entries[close[0]].name}'?" if close else None
        raise ConfigError(
            f"unknown {self.kind} '{name}'",
            key=key,
            expected=f"one of {', '.join(self.names())}",
            received=name,
            hint=hint,
        )

    def suggest(self, name: str) -> str | None:
        close = difflib.get_close_matches(normalize_name(name), list(self._entries), n=1, cutoff=0.5)
        return self._entries[close[0]].name if close else None

    def names(self) -> list[str]:
        return [e.name for e in self._entries.values()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and normalize_name(name) in self._entries

    def __iter__(self) -> Iterator[Entry[T]]:
        return iter(self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

