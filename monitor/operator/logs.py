"""Logging for people (one line each) or for machines (JSON lines), never with a secret in it."""

from __future__ import annotations

import json
import logging
import sys
import urllib.parse
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

FORMAT_ENV = "TRIAL_MONITOR_LOG_FORMAT"
LEVEL_ENV = "TRIAL_MONITOR_LOG_LEVEL"
# Attributes every LogRecord has; anything else was passed with `extra=` and is data.
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, ensure_ascii=False)


class Redacting(logging.Formatter):
    """Blanks each secret out of the whole text a formatter makes of a record: the message, a
    traceback (`log.exception`), a stack, the JSON fields. Redacting the finished line, not the
    message alone, is what leaves no path around it."""

    def __init__(self, inner: logging.Formatter, secrets: Iterable[str]) -> None:
        super().__init__()
        self.inner = inner
        # A secret may reach a line as it is, JSON-escaped, repr()-escaped in a traceback, or
        # percent-encoded inside a database URL.
        forms = {
            form
            for secret in secrets
            if secret
            for form in (
                secret,
                json.dumps(secret)[1:-1],
                repr(secret)[1:-1],
                urllib.parse.quote(secret, safe=""),
            )
        }
        self.secrets = sorted(forms, key=len, reverse=True)

    def format(self, record: logging.LogRecord) -> str:
        return self.redact(self.inner.format(record))

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text


def redact(text: str) -> str:
    """Text for the terminal with the secrets the monitor's log handler knows blanked out: for
    the one-line errors the commands print themselves."""
    for handler in logging.getLogger().handlers:
        if getattr(handler, "trial_monitor", False) and isinstance(handler.formatter, Redacting):
            text = handler.formatter.redact(text)
    return text


def setup_logging(environ: Mapping[str, str], secrets: Iterable[str] = ()) -> None:
    level = environ.get(LEVEL_ENV, "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    if environ.get(FORMAT_ENV, "").lower() == "json":
        inner: logging.Formatter = JsonFormatter()
    else:
        inner = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(Redacting(inner, secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "trial_monitor", False):
            root.removeHandler(old)
    handler.trial_monitor = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    # Libraries speak up from WARNING (httpx alone logs every request at INFO); the monitor's
    # own level is the operator's choice.
    root.setLevel(logging.WARNING)
    logging.getLogger("monitor").setLevel(
        level if level in logging.getLevelNamesMapping() else "INFO"
    )
