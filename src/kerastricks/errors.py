"""Errors that kerastricks raises for bad user input.

Every problem a user can fix (a wrong recipe key, a value out of range, a missing
data file, an unknown name) is raised as a :class:`UserError`. The CLI turns a
``UserError`` into exit code 2 and a single line, without a traceback. Anything
else is a bug and keeps its traceback (exit code 1).
"""

from __future__ import annotations

from typing import Any


def shorten(value: Any, limit: int = 400) -> str:
    """``value`` on one line, shortened at a word boundary (never mid-word) to about ``limit`` characters."""
    text = repr(value) if not isinstance(value, str) else value
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 4)
    if cut < limit // 2:  # one long token: cut after a comma or at the limit
        cut = max(text.rfind(",", 0, limit - 4) + 1, limit - 4)
    return text[:cut].rstrip(", ") + " ..."


class UserError(Exception):
    """A problem in what the user supplied, reported as one line.

    Args:
        message: What went wrong, in a few words. Optional when ``expected`` and
            ``received`` say it all.
        file: The file the problem is in (recipe, data file, run directory).
        key: The dotted key or argument name (``train.epochs``).
        expected: What would have been valid.
        received: What was found.
        hint: One short suggestion (``did you mean 'adamw'?``).
    """

    def __init__(
        self,
        message: str = "",
        *,
        file: str | None = None,
        key: str | None = None,
        expected: Any = None,
        received: Any = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.file = None if file is None else str(file)
        self.key = key
        self.expected = expected
        self.received = received
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        """The single line shown to the user."""
        parts = []
        if self.file:
            parts.append(self.file)
        if self.key:
            parts.append(f"key '{self.key}'")
        head = ": ".join(parts)
        body = []
        if self.message:
            body.append(self.message)
        if self.expected is not None:
            body.append(f"expected {shorten(self.expected)}")
        if self.received is not None:
            body.append(f"received {shorten(self.received)}")
        elif self.expected is not None:
            body.append("received no value")
        text = ", ".join(body)
        if self.hint:
            text = f"{text} ({self.hint})" if text else self.hint
        line = f"{head}: {text}" if head else text
        return " ".join(line.split())

    def with_context(self, *, file: str | None = None, key_prefix: str | None = None) -> UserError:
        """A copy that also names the file and/or prefixes the key."""
        key = self.key
        if key_prefix:
            key = f"{key_prefix}.{key}" if key else key_prefix
        return type(self)(
            self.message,
            file=file if file is not None else self.file,
            key=key,
            expected=self.expected,
            received=self.received,
            hint=self.hint,
        )


class ConfigError(UserError, ValueError):
    """A recipe or argument value is invalid."""


class DataError(UserError):
    """A dataset cannot be found, read or used."""


class RunDirError(UserError):
    """A run directory is missing, incomplete or would be overwritten."""


def check_arg(condition: bool, name: str, expected: str, received: Any) -> None:
    """Raise ``ConfigError`` in Keras's words when ``condition`` is false.

    >>> check_arg(3 > 0, "step_size", "> 0", 3)
    """
    if not condition:
        raise ConfigError(
            f"Argument `{name}` must be {expected}. Received: {name}={received!r}",
        )
