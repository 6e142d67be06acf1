"""One TOML table being read: typed getters that name the key in every error, and a check that
no key was left unread (an unknown key is a typo whose setting would silently not apply)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from enum import StrEnum
from typing import Any, TypeVar

from monitor.core.errors import ConfigError

_T = TypeVar("_T")
_E = TypeVar("_E", bound=StrEnum)


# Key names whose values may be secrets.
_SECRET = re.compile(r"pass|secret|token|credential|key", re.IGNORECASE)


class Table:
    """One TOML table being read: typed getters that name the key, and a check for leftovers."""

    def __init__(self, data: Mapping[str, Any], prefix: str) -> None:
        self._data = dict(data)
        self._prefix = prefix
        self._seen: set[str] = set()

    def key(self, name: str) -> str:
        """The key's full name, as errors give it: `email.port`."""
        return f"{self._prefix}.{name}" if self._prefix else name

    def _get(self, name: str, kind: type[_T], kind_name: str, default: _T | None) -> _T:
        self._seen.add(name)
        if name not in self._data:
            if default is None:
                raise ConfigError(f"{self.key(name)} is missing")
            return default
        value = self._data[name]
        # bool is an int in Python; a `true` where a number belongs is still a mistake.
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{self.key(name)} = {value!r} is not {kind_name}")
        return value

    def string(self, name: str, default: str | None = None) -> str:
        return self._get(name, str, "a string", default)

    def array(self, name: str, default: list[Any] | None = None) -> list[Any]:
        return self._get(name, list, "a list", default)

    def integer(self, name: str, default: int, minimum: int, maximum: int) -> int:
        value = self._get(name, int, "a whole number", default)
        if not minimum <= value <= maximum:
            raise ConfigError(
                f"{self.key(name)} = {value!r} is not between {minimum} and {maximum}"
            )
        return value

    def number(
        self, name: str, default: float, minimum: float, maximum: float | None = None
    ) -> float:
        self._seen.add(name)
        value = self._data.get(name, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{self.key(name)} = {value!r} is not a number")
        if maximum is not None and not minimum <= value <= maximum:
            raise ConfigError(
                f"{self.key(name)} = {value!r} is not between {minimum:g} and {maximum:g}"
            )
        if value < minimum:
            raise ConfigError(f"{self.key(name)} = {value!r} is below {minimum}")
        return float(value)

    def choice(self, name: str, kind: type[_E], default: _E) -> _E:
        """One of an enum's values, e.g. email.security."""
        value = self.string(name, default.value)
        try:
            return kind(value)
        except ValueError:
            choices = ", ".join(member.value for member in kind)
            raise ConfigError(f"{self.key(name)} = {value!r} is not one of {choices}") from None

    def raw(self, name: str) -> Any:
        """The value as TOML gave it, for keys that take more than one type."""
        self._seen.add(name)
        return self._data[name]

    def keys(self) -> list[str]:
        return list(self._data)

    def __contains__(self, name: str) -> bool:
        return name in self._data

    def boolean(self, name: str, default: bool) -> bool:
        return self._get(name, bool, "true or false", default)

    def optional_table(self, name: str) -> Table | None:
        self._seen.add(name)
        if name not in self._data:
            return None
        return self.table(name)

    def table(self, name: str) -> Table:
        value = self._get(name, dict, "a table", {})
        return Table(value, self.key(name))

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._seen)
        if unknown:
            name = unknown[0]
            key = self.key(name)
            if _SECRET.search(name):
                # Its value may be a secret: never echo it (into a terminal, a log, a ticket).
                raise ConfigError(f"unknown key {key} (its value not shown)")
            raise ConfigError(f"unknown key {key} = {self._data[name]!r}")
