"""Name -> object registries that power recipe validation and ``kerastricks list``.

One registry per family (datasets, models, optimizers, schedules, losses,
techniques, ...). Look-ups are case-insensitive and treat ``-`` and ``_`` alike;
an unknown name raises :class:`~kerastricks.errors.ConfigError` with the closest
valid name suggested, so the list a user sees is the list the code accepts.

An entry holds a *target* (the object, or ``"module:attr"`` imported when first
needed) and a *spec*: the callable whose signature is the schema of its options.
The spec is the target itself unless the target lives in a module that imports
Keras (a Keras optimizer class); then a Keras-free twin with the same signature
is registered, and a test keeps the two in step. That is what lets the command
line validate a recipe without importing TensorFlow.

:meth:`Registry.build` is the one path from a recipe section to a built object:
look up, validate (unless the options were validated already), call, and name
the recipe key in any error the constructor raises.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from kerastricks._lazy import load_target
from kerastricks.errors import ConfigError, UserError, shorten

T = TypeVar("T")


def normalize_name(name: str) -> str:
    return str(name).strip().lower().replace("-", "_")


class Entry(Generic[T]):
    """One registered object with its metadata.

    Attributes:
        name: The registered name, as shown to users.
        target: The object or ``"module:attr"``; :attr:`obj` imports it.
        description: One line for ``kerastricks list``.
        spec: The callable whose signature is the options schema (Keras-free).
        defaults: Extra defaults shown by ``kerastricks list`` (informational).
        meta: Family-specific metadata (``input_kind``, ``task``, ``source``...).
    """

    __slots__ = ("_obj", "defaults", "description", "meta", "name", "spec", "target")

    def __init__(self, name: str, target: Any, description: str, defaults: dict[str, Any] | None = None,
                 meta: dict[str, Any] | None = None, spec: Callable | None = None) -> None:
        self.name = name
        self.target = target
        self.description = description
        self.defaults = dict(defaults or {})
        self.meta = dict(meta or {})
        self._obj = None if isinstance(target, str) else target
        self.spec = spec  # None: the target's own signature is the schema

    @property
    def obj(self) -> T:
        """The registered object (imported on first use when given as ``"module:attr"``)."""
        if self._obj is None:
            self._obj = load_target(self.target)
        return self._obj

    @property
    def schema(self) -> Callable:
        """The callable whose signature is the options schema."""
        return self.spec if self.spec is not None else self.obj

    def __repr__(self) -> str:
        return f"Entry({self.name!r}, {self.target!r})"


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
        obj: T | str | None = None,
        *,
        description: str,
        defaults: dict[str, Any] | None = None,
        spec: Callable | None = None,
        **meta: Any,
    ) -> Any:
        """Register ``obj`` (an object or ``"module:attr"``) under ``name``; without ``obj``, a decorator."""

        def add(target: Any) -> Any:
            key = normalize_name(name)
            if key in self._entries:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._entries[key] = Entry(name, target, description, defaults, meta, spec)
            return target

        if obj is None:
            return add
        return add(obj)

    def get(self, name: str, *, key: str | None = None) -> Entry[T]:
        """The entry for ``name``; unknown names raise ``ConfigError`` with a suggestion."""
        norm = normalize_name(name) if isinstance(name, str) else None
        if norm in self._entries:
            return self._entries[norm]
        if not isinstance(name, str):
            raise ConfigError(key=key, expected=f"a {self.kind} name (one of {', '.join(self.names())})",
                              received=name)
        hint = self.suggest(name)
        raise ConfigError(
            f"unknown {self.kind} '{name}'",
            key=key,
            expected=f"one of {', '.join(self.names())}",
            received=name,
            hint=f"did you mean '{hint}'?" if hint else None,
        )

    def validate(self, name: str, options: dict[str, Any] | None, *, section: str, file: str | None = None,
                 exclude: tuple[str, ...] = (), fill_defaults: bool = True) -> tuple[Entry[T], dict[str, Any]]:
        """Look ``name`` up and check ``options`` against its schema; errors name ``file`` and ``section.key``."""
        from kerastricks.validation import validate_options

        try:
            entry = self.get(name, key=f"{section}.name")
            opts = validate_options(entry.schema, dict(options or {}), section=section, file=file,
                                    exclude=exclude, fill_defaults=fill_defaults)
        except UserError as exc:
            raise (exc.with_context(file=file) if file and not exc.file else exc) from None
        return entry, opts

    def build(self, name: str, options: dict[str, Any] | None = None, *, section: str, file: str | None = None,
              context: dict[str, Any] | None = None, validated: bool = False,
              exclude: tuple[str, ...] = ()) -> Any:
        """Look up, validate (skipped when ``validated``), call with ``options`` plus ``context``.

        A ``ValueError``/``TypeError`` the constructor raises in Keras's words
        ("Argument `beta_1` must be ...") becomes a ``ConfigError`` naming
        ``section.beta_1`` and ``file``.
        """
        if validated:
            entry, opts = self.get(name, key=f"{section}.name"), dict(options or {})
        else:
            entry, opts = self.validate(name, options, section=section, file=file, exclude=exclude,
                                        fill_defaults=False)
        try:
            return entry.obj(**opts, **(context or {}))
        except UserError as exc:
            raise (exc.with_context(file=file) if file and not exc.file else exc) from None
        except (ValueError, TypeError) as exc:
            message = str(exc)
            arg = re.match(r"Argument `(\w+)`", message)
            key = f"{section}.{arg.group(1)}" if arg and arg.group(1) in opts else section
            raise ConfigError(shorten(message, 300), file=file, key=key) from None

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
