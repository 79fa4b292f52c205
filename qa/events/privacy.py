"""What never reaches an events file: runs of 6 or more digits (card, phone, ID numbers) and e-mail addresses."""

from __future__ import annotations

import re

DIGITS_MASK = "######"
EMAIL_MASK = "***@***"
# ASCII on both sides of the @ (full-width ＠ too): a Chinese sentence around an address stays readable.
_EMAIL = re.compile(r"[A-Za-z0-9._%+-]+[@＠][A-Za-z0-9-]+(?:[.．][A-Za-z0-9-]+)+")
# \d is every Unicode decimal digit (full-width ０-９ included). Single spaces or hyphens inside the run count as
# part of it, so 6222 0212 3456 7890 or 138-1234-5678 are one run; a trailing X closes a Chinese ID number.
_DIGITS = re.compile(r"\d(?:[ \u00a0\u3000\-－]?\d){5,}[Xx]?")


def mask(text: str) -> str:
    """text with every e-mail address replaced by ***@*** and every run of 6+ digits by ###### (any length)."""
    return _DIGITS.sub(DIGITS_MASK, _EMAIL.sub(EMAIL_MASK, text))
