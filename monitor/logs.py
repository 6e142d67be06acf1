"""Logging for people (one line each) or for machines (JSON lines), never with a secret in it."""

from __future__ import annotations

import json
import logging
import sys
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


class Redact(logging.Filter):
    """Replaces each secret by *** in the final message, whatever code path logged it."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            for secret in self.secrets:
                message = message.replace(secret, "***")
            record.msg, record.args = message, None
        return True


def setup_logging(environ: Mapping[str, str], secrets: Iterable[str] = ()) -> None:
    level = environ.get(LEVEL_ENV, "INFO").upper()
    handler = logging.StreamHandler(sys.stderr)
    if environ.get(FORMAT_ENV, "").lower() == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Redact(secrets))
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
