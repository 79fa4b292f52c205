"""The verifier in the walk: the first hits read with the question and reranked, the rest unread; turned off by
QA_VERIFIER=off; FAQ entries offered when the answer abstains (the real model, the real fitted verifier)."""

from __future__ import annotations

import dataclasses

import pytest

from qa.query import faqhits, verify
from qa.service import QAService

pytestmark = pytest.mark.slow  # loads the cross-encoder (a few seconds of CPU)

QUESTION = "付款失败但钱被扣了两次怎么办？"


def test_the_first_hits_are_read_and_reranked_the_rest_are_not(service: QAService) -> None:
    fit = service.retriever.fitted.verifier
    assert fit is not None, "e5-torch ships a fitted verifier (qa/fitted/)"
    result = service.ask(QUESTION, top_k=5)
    probabilities = [s.signals.verifier for s in result.sources]
    assert all(p is not None and 0.0 <= p <= 1.0 for p in probabilities[: fit.params.top])
    assert all(p is None for p in probabilities[fit.params.top:])
    read = result.sources[: fit.params.top]
    order = [s.signals.hybrid + fit.params.weight * (s.signals.verifier or 0.0) for s in read]
    assert order == sorted(order, reverse=True)  # rounded to 4 places, so ties keep their order


def test_candidates_are_the_sentences_nearest_the_question(service: QAService) -> None:
    retriever = service.retriever
    query = retriever.prepare(QUESTION)
    found = faqhits.examine(query, retriever.rank(query, 3, "hybrid"))
    texts = verify.candidates(query, found[0], 2)
    assert 1 <= len(texts) <= 2 and all(t in found[0].hit.chunk.text for t in texts)


def test_turned_off_nothing_is_read_and_health_says_so(service: QAService) -> None:
    off = QAService(service.live, dataclasses.replace(service.settings, verifier="off"))
    result = off.ask(QUESTION)
    assert all(s.signals.verifier is None for s in result.sources) and result.suggestions == []
    assert off.health().verifier is False and service.health().verifier is True
