"""trial-monitor: watches ClinicalTrials.gov records and emails one digest of what changed."""

__version__ = "0.1.0"
