"""FAQ entries among the hits: each hit's document and, for an entry, the question it matched (looked up once per
question, for the answer and the sources alike), and an entry's answer quoted verbatim."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qa import faq
from qa.chunking import split_sentences
from qa.corpus import DocumentInfo
from qa.query.retrieval import Hit, Query

FAQ = "faq"


@dataclass(frozen=True)
class Match:
    """An entry hit: the entry's question (or alternate) nearest the one asked, and their cosine."""

    question: str
    cosine: float


@dataclass(frozen=True)
class Found:
    """A ranked hit with its document and, for an FAQ entry, the entry's question nearest the one asked."""

    hit: Hit
    doc: DocumentInfo
    match: Match | None  # None for a passage

    @property
    def is_faq(self) -> bool:
        return self.match is not None


@dataclass(frozen=True)
class Quoted:
    """An entry's answer as quoted: document offsets of the part shown."""

    start: int
    end: int
    text: str


def examine(query: Query, hits: list[Hit]) -> list[Found]:
    """Each hit's document and FAQ match, in hit order; the documents are asked of the question's view, which on
    Milvus already holds the metadata its chunk search returned (no extra round trip)."""
    info = query.view.document_info([h.chunk.doc_id for h in hits])
    return [Found(h, doc, match(query, h) if doc.kind == FAQ else None)
            for h in hits for doc in (info[h.chunk.doc_id],)]


def match(query: Query, hit: Hit) -> Match:
    """The entry's question nearest the one asked (an entry's chunk is its whole text, so offsets agree)."""
    n = len(faq.question_spans(hit.chunk.text))
    spans, cosines = query.view.sentence_scores(hit.row)
    best = int(np.argmax(cosines[:n]))
    start, end = (int(x) for x in spans[best])
    return Match(hit.chunk.text[start:end], float(cosines[best]))


def quote_answer(hit: Hit, max_chars: int) -> Quoted:
    """The entry's answer as written; a longer one up to the last sentence end within max_chars (at least its
    first sentence)."""
    text = hit.chunk.text
    start = faq.answer_start(text)
    end = len(text)
    if end - start > max_chars:
        ends = [e for _, e in split_sentences(text, start)]
        within = [e for e in ends if e - start <= max_chars]
        end = within[-1] if within else ends[0]
    return Quoted(start, end, text[start:end])
