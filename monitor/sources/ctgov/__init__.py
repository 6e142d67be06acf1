"""ClinicalTrials.gov, through its data API v2: the trials' records."""
