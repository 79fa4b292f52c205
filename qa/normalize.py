"""Length-preserving text normalisation: full-width → half-width, traditional → simplified, lower case."""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Callable
from importlib.metadata import version

from opencc import OpenCC

# Bump RULES when what normalize() does changes; with OpenCC's own version it keys cached embeddings of
# normalised text (qa.index.cache), so a change of either re-embeds instead of reusing stale vectors.
RULES = 1
VERSION = f"qa-normalize-{RULES}+opencc-{version('opencc-python-reimplemented')}"


class _PerCharTable(dict[int, str]):
    """A str.translate table that computes and memoises each code point's mapping on first sight."""

    def __init__(self, mapping: Callable[[str], str]) -> None:
        super().__init__()
        self._mapping = mapping

    def __missing__(self, code: int) -> str:
        char = chr(code)
        mapped = self._mapping(char)
        # Anything that would change the length (ﬁ → fi, ⅷ → viii, İ → i̇) is left as it was.
        result = mapped if len(mapped) == 1 else char
        self[code] = result
        return result


_NFKC = _PerCharTable(lambda char: unicodedata.normalize("NFKC", char))
_LOWER = _PerCharTable(str.lower)


@functools.cache
def _t2s() -> OpenCC:
    # Loading the dictionaries takes a while; only pay for it when text is first normalised.
    converter = OpenCC("t2s")
    # OpenCC loads its dictionaries on the first convert without a lock; do it before the converter is
    # shared between threads (the web server normalises questions concurrently).
    converter.convert("")
    return converter


# The same passages come back question after question (a source card, its sentences), and OpenCC in pure Python
# costs about 1 µs a character: remembering recent results took 4-5 ms off each answer (bench/bench_api.py).
@functools.lru_cache(maxsize=8192)
def normalize(text: str) -> str:
    """Normalise text so that len(normalize(text)) == len(text) and offsets stay valid on the original."""
    text = text.translate(_NFKC)
    if not text.isascii():
        text = _convert_preserving_length(text, _t2s().convert)
    return text.translate(_LOWER)


def _convert_preserving_length(text: str, convert: Callable[[str], str]) -> str:
    """Apply convert to the whole text, or character by character if the whole-text result changed length."""
    converted = convert(text)
    if len(converted) == len(text):
        return converted
    pieces = []
    for char in text:
        mapped = convert(char)
        pieces.append(mapped if len(mapped) == 1 else char)
    return "".join(pieces)
