"""Question and feedback events: what people asked and what they found unhelpful, kept as JSON lines for `qa gaps`."""
