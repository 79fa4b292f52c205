"""Sentence-level evidence of retrieved passages: each sentence's offsets, text and cosine with the question."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace

import numpy as np

from qa.normalize import normalize
from qa.query.retrieval import Hit, Query

# A list enumerator ("1. ", "（2）", "- ") is layout, not part of the sentence's statement.
_ENUMERATOR = re.compile(r"\s*(?:\d{1,2}[.、)）]\s*|[（(]\d{1,2}[)）]\s*|[-*•]\s+)")


@dataclass(frozen=True)
class Sentence:
    source: int  # 1-based rank of the hit it came from
    doc_id: str
    start: int  # offsets into the document's text, enumerator trimmed
    end: int
    text: str
    matchable: str  # normalised text, for term matching
    cosine: float  # with the question
    item: int  # index of its list item (or paragraph) within the hit: sentences of one item share it
    opens_item: bool  # the first sentence of a numbered list item
    question: bool = False  # one of an FAQ entry's questions: what it answers, never an answer itself

    @property
    def truncated(self) -> bool:
        """A teaser fragment cut off mid-sentence ("…以太坊还..."): never an answer by itself."""
        return self.text.rstrip().endswith(("…", "..."))

    @property
    def asks(self) -> bool:
        """The sentence is itself a question (a question heading such as "什么是OSDT数字钱包?")."""
        return self.text.rstrip().endswith(("?", "？"))


def hit_sentences(query: Query, hit: Hit, source: int, questions: int = 0) -> list[Sentence]:
    """The sentences of one retrieved chunk with their cosines, the first `questions` being an FAQ entry's
    questions; the only reader of the index's sentence store."""
    chunk = hit.chunk
    spans, cosines = query.view.sentence_scores(hit.row)
    out = _sentences(chunk.doc_id, chunk.text, chunk.start, [(int(s), int(e)) for s, e in spans], cosines, source)
    return [replace(s, question=True) for s in out[:questions]] + out[questions:]


def _sentences(doc_id: str, text: str, offset: int, spans: list[tuple[int, int]], cosines: np.ndarray,
               source: int) -> list[Sentence]:
    out: list[Sentence] = []
    item = 0
    matchable = normalize(text)  # once per chunk: same length as the text, so sentence offsets carry over
    for (start, end), cosine in zip(spans, cosines, strict=True):
        local_start, local_end = start - offset, end - offset
        match = _ENUMERATOR.match(text, local_start, local_end)
        opens = bool(match and match.end() < local_end)
        gap = text[out[-1].end - offset:local_start] if out else ""
        if out and (opens or "\n" in gap):
            item += 1  # a new list item or paragraph
        if match and opens:
            local_start = match.end()
        piece = text[local_start:local_end]
        out.append(Sentence(source, doc_id, local_start + offset, local_end + offset, piece,
                            matchable[local_start:local_end],
                            float(cosine), item, opens))
    return out
