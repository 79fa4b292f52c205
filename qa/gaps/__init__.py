"""`qa gaps`: the needs the corpus does not meet, from question and feedback events, grouped and re-asked."""
