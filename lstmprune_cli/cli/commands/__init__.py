"""One module per verb: each parses its flags, calls its job's `run` and renders the record."""
