"""The monitor's error tree. Library exceptions are translated into these where they enter."""


class MonitorError(Exception):
    """Base of every error the monitor expects and reports in one line."""


class ConfigError(MonitorError):
    """The configuration (file, environment) is unusable; names the key and the value."""


class RegistryError(MonitorError):
    """ClinicalTrials.gov could not be read, after retries where retrying made sense."""


class LimitError(RegistryError):
    """A bound on the work of one cycle was reached (response size, pages, records)."""


class StoreError(MonitorError):
    """The database could not be used (unreachable, locked, or not at the expected schema)."""


class DeliveryError(MonitorError):
    """The digest could not be delivered. `permanent` says whether retrying could help."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
