"""How a section of config.toml is declared and read, for the core's sections and each wing's.

A section is a frozen dataclass whose fields are `setting(default, bounds)`: `read_settings` reads
each such field from its table by name and type, checks the bounds, and falls back to the
default, so a key, its default and its bounds are written once. The helpers beside it check the
values every wing meets (addresses, URLs) and read secrets from the environment (or a file named
by `NAME_FILE`, for container secrets), never from the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import field, fields
from email.utils import parseaddr
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar, get_type_hints
from urllib.parse import urlsplit

from monitor.core.errors import ConfigError
from monitor.settings.tomltable import Table

_T = TypeVar("_T")
_Section = TypeVar("_Section")

# Deliberately plain: enough to catch typos and header injection, not an RFC 5322 parser.
ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;.]+")


def setting(default: _T, *, minimum: float | None = None, maximum: float | None = None) -> _T:
    """A key of config.toml, its default and its bounds, written once: `read_settings` reads
    each such field by its name and type, checks the bounds, and falls back to the default."""
    return field(default=default, metadata={"minimum": minimum, "maximum": maximum})


def read_settings(
    table: Table,
    section: type[_Section],
    given: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
) -> _Section:
    """Every `setting(...)` of a section read from its table by the field's name and type,
    checked against its bounds, else its default; `given` are the fields the caller read itself,
    `defaults` the defaults that depend on another key (email.port on email.security). A key
    the section does not know is an error."""
    values = dict(given or {})
    hints = get_type_hints(section)
    for item in fields(section):  # type: ignore[arg-type]
        if item.name in values or "minimum" not in item.metadata:
            continue
        default = (defaults or {}).get(item.name, item.default)
        values[item.name] = _read(table, item.name, hints[item.name], default, item.metadata)
    table.done()
    return section(**values)


def default_of(section: type[Any], name: str) -> Any:
    """A setting's default as its section declares it."""
    return next(item.default for item in fields(section) if item.name == name)


def _read(table: Table, name: str, kind: Any, default: Any, bounds: Mapping[str, Any]) -> Any:
    minimum, maximum = bounds["minimum"], bounds["maximum"]
    if kind is bool:
        return table.boolean(name, default)
    if kind is int:
        return table.integer(name, default, minimum, maximum)
    if kind is float:
        return table.number(name, default, minimum, maximum)
    if kind is str:
        return table.string(name, default)
    if kind == str | None:
        return table.string(name, "") or None
    if isinstance(kind, type) and issubclass(kind, StrEnum):
        return table.choice(name, kind, default)
    raise TypeError(f"{table.key(name)} is declared with a type no reader knows: {kind}")


def check_address(key: str, value: object) -> str:
    """An email address from the config, or a ConfigError naming the key."""
    if not isinstance(value, str) or "\r" in value or "\n" in value:
        raise ConfigError(f"{key} = {value!r} is not an email address")
    _, address = parseaddr(value)
    if not ADDRESS.fullmatch(address):
        raise ConfigError(f"{key} = {value!r} is not an email address")
    return value.strip()


def is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and url.strip() == url


def secret(environ: Mapping[str, str], name: str) -> str | None:
    """A secret from NAME, or from the file named by NAME_FILE (container secrets)."""
    file_env = name + "_FILE"
    direct, path = environ.get(name), environ.get(file_env)
    if direct and path:
        raise ConfigError(f"both {name} and {file_env} are set: keep one")
    if path:
        try:
            return Path(path).read_text(encoding="utf-8").rstrip("\r\n") or None
        except OSError as exc:
            raise ConfigError(f"{file_env} = {path!r} cannot be read: {exc.strerror}") from None
    return direct or None
