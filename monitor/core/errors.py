"""The monitor's error tree. Library exceptions are translated into these where they enter."""

import re


class MonitorError(Exception):
    """Base of every error the monitor expects and reports in one line."""


class ConfigError(MonitorError):
    """The configuration (file, environment) is unusable; names the key and the value."""


class SourceError(MonitorError):
    """A source could not be read, after retries where retrying made sense. Each source
    succeeds or fails on its own: one's failure never stops the others."""


class RegistryError(SourceError):
    """ClinicalTrials.gov could not be read, after retries where retrying made sense."""


class PubmedError(SourceError):
    """PubMed (NCBI's E-utilities) could not be read, after retries where retrying made sense."""


class LimitError(RegistryError):
    """A bound on the work of one cycle was reached (response size, pages, records)."""


class StoreError(MonitorError):
    """The database could not be used (unreachable, locked, full, damaged, not writable, or not
    at a schema this version can use); db.database_error words the driver's failures."""


class DeliveryError(MonitorError):
    """The digest could not be delivered. `permanent` says whether retrying could help;
    `unknown`, that the service may have taken it all the same (the connection ended after
    the whole message was sent): not tried again at once, so that a slow server does not get
    several copies in one cycle."""

    def __init__(self, message: str, *, permanent: bool = False, unknown: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.unknown = unknown


def first_line(exc: BaseException) -> str:
    """An exception's message on one line, for an error line: its driver's own when it wraps
    one, and never the password a URL in it may carry."""
    original = getattr(exc, "orig", None) or exc
    text = without_password(str(original).strip())
    return text.splitlines()[0] if text else type(original).__name__


def without_password(text: str) -> str:
    """A text quoting a database URL (`postgresql://user:secret@host/db`), its password hidden."""
    return re.sub(r"(//[^:/@\s]*):[^@\s]*@", r"\1:***@", text)
