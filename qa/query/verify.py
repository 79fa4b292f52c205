"""The verifier in a question's walk: which text of each top hit it reads with the question, and the rerank and
FAQ suggestions its probabilities give (the model itself is qa.query.verifier)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

import numpy as np

from qa import faq
from qa.fitted.records import VerifierParams
from qa.query.faqhits import Found
from qa.query.retrieval import Query, Retriever
from qa.query.verifier import Verifier

_loaded: dict[str, Verifier] = {}
_loading = threading.Lock()


def verifier_for(model_id: str) -> Verifier:
    """The model's verifier, loaded on first use in each process: a server's master never loads it (its tensors
    are made with torch kernels, and a process that ran them before fork() leaves its children hanging)."""
    with _loading:
        if model_id not in _loaded:
            _loaded[model_id] = Verifier(model_id)
        return _loaded[model_id]


@dataclass(frozen=True)
class Checked:
    """A hit as ranked after the verifier read it: its probability (None past the hits read) and what it read."""

    found: Found
    probability: float | None
    read: str | None  # the candidate that scored best: an entry's question or a passage sentence


def candidates(query: Query, found: Found, per_hit: int) -> list[str]:
    """What the verifier reads of one hit: an entry's questions, or a passage's sentences, nearest the question
    first (by the bi-encoder's cosine), at most per_hit."""
    hit = found.hit
    spans, cosines = query.view.sentence_scores(hit.row)
    n = len(faq.question_spans(hit.chunk.text)) if found.is_faq else len(spans)
    pool = [(float(c), int(s), int(e)) for (s, e), c in zip(spans[:n], cosines[:n], strict=True)]
    best = sorted(pool, key=lambda p: -p[0])[:per_hit]
    offset = hit.chunk.start
    return [text for _, s, e in best if (text := hit.chunk.text[s - offset:e - offset].strip())]


def check(verifier: Verifier, query: Query, found: list[Found], params: VerifierParams) -> list[Checked]:
    """The first params.top hits read with the question (one batched pass) and reranked by fused evidence plus
    params.weight times the verifier's probability; the rest follow unread, in their order."""
    read = found[: params.top]
    texts = [candidates(query, f, params.per_hit) for f in read]
    flat = [t for ts in texts for t in ts]
    scores = verifier.score(query.text, flat) if flat else np.zeros(0)
    out: list[Checked] = []
    at = 0
    for f, ts in zip(read, texts, strict=True):
        mine = scores[at:at + len(ts)]
        at += len(ts)
        best = int(np.argmax(mine)) if len(ts) else -1
        out.append(Checked(f, float(mine[best]) if len(ts) else 0.0, ts[best] if len(ts) else None))
    out.sort(key=lambda c: -(c.found.hit.signals.hybrid + params.weight * (c.probability or 0.0)))
    return out + [Checked(f, None, None) for f in found[params.top:]]


def with_scores(checked: list[Checked]) -> list[Found]:
    """The hits in their new order, each hit's signals carrying its verifier probability and, for an FAQ entry,
    the cosine of its nearest question (for answerability and the sources)."""
    return [replace(c.found, hit=replace(c.found.hit, signals=replace(
        c.found.hit.signals, verifier=c.probability,
        question=c.found.match.cosine if c.found.match else c.found.hit.signals.question))) for c in checked]


def suggestions(checked: list[Checked], floor: float, limit: int = 3) -> list[Checked]:
    """FAQ entries close enough to offer when the answer abstains: read, at least floor probable, best first."""
    entries = [c for c in checked if c.found.is_faq and c.probability is not None and c.probability >= floor]
    return sorted(entries, key=lambda c: -(c.probability or 0.0))[:limit]


def read(retriever: Retriever, query: Query, found: list[Found], enabled: bool = True) -> list[Checked]:
    """The hits after the model's verifier read the first few (reranked, probabilities in their signals); as they
    were, unread, when no verifier is fitted for the model or it is turned off (QA_VERIFIER=off)."""
    fit = retriever.fitted.verifier
    if fit is None or not enabled or not found:
        return [Checked(f, None, None) for f in found]
    return check(verifier_for(retriever.embedder.model_id), query, found, fit.params)
