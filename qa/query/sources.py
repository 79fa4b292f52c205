"""The numbered sources of an answer or a search: each examined hit as a `results.Source`, its question terms
highlighted."""

from __future__ import annotations

from dataclasses import replace

from qa.documents.model import location_of
from qa.normalize import normalize
from qa.query.faqhits import Found
from qa.query.retrieval import Query
from qa.results import Signals, Source
from qa.tokens import worth_marking


def sources(query: Query, found: list[Found]) -> list[Source]:
    """One Source per hit, numbered from 1 in rank order (the answer's [n] markers)."""
    return [_source(n, query, f) for n, f in enumerate(found, start=1)]


def _source(n: int, query: Query, found: Found) -> Source:
    hit, doc, matched = found.hit, found.doc, found.match
    return Source(
        n=n, doc_id=doc.doc_id, title=doc.title, url=doc.url, date=doc.date,
        chunk_id=hit.chunk.chunk_id, text=hit.chunk.text, start=hit.chunk.start, end=hit.chunk.end,
        score=round(hit.score, 4), signals=_rounded(replace(hit.signals, question=matched.cosine if matched else 0.0)),
        highlights=highlights(normalize(hit.chunk.text), query), kind="faq" if matched else "passage",
        matched_question=matched.question if matched else None,
        location=None if matched else location_of(doc.locations, hit.chunk.headings, hit.chunk.start, hit.chunk.end),
    )


def _rounded(signals: Signals) -> Signals:
    return Signals(dense=round(signals.dense, 4), sentence=round(signals.sentence, 4),
                   coverage=round(signals.coverage, 4), bm25=round(signals.bm25, 4), hybrid=round(signals.hybrid, 4),
                   question=round(signals.question, 4),
                   verifier=None if signals.verifier is None else round(signals.verifier, 4))


def highlights(matchable: str, query: Query) -> list[tuple[int, int]]:
    """Character ranges holding the question's terms (found in the normalised text), merged where they touch."""
    spans = sorted(span for term in query.terms if worth_marking(term) for span in _occurrences(matchable, term))
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _occurrences(text: str, term: str) -> list[tuple[int, int]]:
    found = []
    start = text.find(term)
    while start != -1:
        found.append((start, start + len(term)))
        start = text.find(term, start + len(term))
    return found
