"""The verifier in the walk: the first hits read with the question and reranked, the rest unread; turned off by
QA_VERIFIER=off; FAQ entries offered when the answer abstains (the real model, the real fitted verifier)."""

from __future__ import annotations

import dataclasses
from urllib.parse import quote

import pytest
from test_faq import _faq_corpus

from qa.config import Settings
from qa.encoders import Embedder
from qa.fitted.records import VerifierParams
from qa.index.build import build_index
from qa.query import faqhits, verify
from qa.serve.app import create_app
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


@pytest.fixture(scope="module")
def faq_service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    root = tmp_path_factory.mktemp("verify-faq")
    settings = Settings.load(environ={}, corpus_dir=_faq_corpus(root / "corpus"), index_dir=root / "index")
    build_index(settings, embedder=embedder)
    return QAService.load(settings)


def _offering_every_read_entry(service: QAService, monkeypatch: pytest.MonkeyPatch) -> VerifierParams:
    """The service's own fitted verifier with its suggestion floor at 0: every FAQ entry it read is offered when
    the answer abstains (the shipped floor offers only likely ones, which a given near-miss may or may not reach)."""
    retriever = service.retriever
    fit = retriever.fitted.verifier
    assert fit is not None
    params = dataclasses.replace(fit.params, suggest=0.0)
    fitted = dataclasses.replace(retriever.fitted, verifier=dataclasses.replace(fit, params=params))
    monkeypatch.setattr(retriever, "fitted", fitted)
    return params


NEAR_MISS = "怎么修改绑定的邮箱"  # worded like 怎样修改绑定的手机号, asking something else


def test_an_abstention_offers_the_entries_that_came_close(faq_service: QAService,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    params = _offering_every_read_entry(faq_service, monkeypatch)
    result = faq_service.ask(NEAR_MISS)
    assert not result.answered and result.answer == ""
    read = {s.doc_id: s for s in result.sources[: params.top] if s.kind == "faq"}
    assert 1 <= len(result.suggestions) <= 3 and {s.doc_id for s in result.suggestions} <= set(read)
    probabilities = [s.probability for s in result.suggestions]
    assert probabilities == sorted(probabilities, reverse=True)
    for s in result.suggestions:  # the entry's own question the verifier read best, with its probability
        assert s.question in read[s.doc_id].text and s.probability == read[s.doc_id].signals.verifier
    client = create_app({"TESTING": True, "QA_SERVICE": faq_service}).test_client()
    page = client.get("/", query_string={"q": NEAR_MISS})
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and "你是不是想问" in body
    assert all(f'href="/?q={quote(s.question)}"' in body for s in result.suggestions)


def test_an_answer_offers_nothing(faq_service: QAService, monkeypatch: pytest.MonkeyPatch) -> None:
    _offering_every_read_entry(faq_service, monkeypatch)
    result = faq_service.ask("我的支付密码想不起来了，该怎么办？")
    assert result.answered and result.matched_question and result.suggestions == []
