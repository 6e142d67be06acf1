"""The sources the monitor reads, one folder each, each with its client (HTTP → pages of
records) and its normalizer (a record → the typed values of models.py). What follows them,
diff → store → words → digest, is shared."""
