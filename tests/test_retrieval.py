"""Retrieval and answers on the real seed index with the real default model."""

from __future__ import annotations

import re

import pytest

from qa.evaluation import match_form
from qa.query.retrieval import MODES
from qa.service import QAService

# (question, a piece of the passage that answers it); phrased unlike the article, plus traditional and English.
SEED_CASES = [
    ("付款失败但钱被扣了两次怎么办？", "确认是否有重复扣款现象"),
    ("支付失敗了，帳戶餘額不足怎麼辦", "若余额不足,可以通过银行转账、现金充值等方式"),
    ("忘记密码登录不了钱包", "用户可通过相关的找回密码流程进行处理"),
    ("What is TokenPocket?", "TokenPocket是全球最大的数字货币钱包"),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("question", "gold"), SEED_CASES[:3])
def test_each_mode_finds_the_passage_in_its_top_five(service: QAService, mode: str, question: str,
                                                     gold: str) -> None:
    results = service.search(question, k=5, mode=mode).results
    assert any(match_form(gold) in match_form(r.text) for r in results)


@pytest.mark.parametrize(("question", "gold"), SEED_CASES)
def test_hybrid_ranks_the_passage_first_or_second(service: QAService, question: str, gold: str) -> None:
    results = service.search(question, k=5).results
    assert any(match_form(gold) in match_form(r.text) for r in results[:2])


def test_sources_point_at_their_documents(service: QAService) -> None:
    result = service.search("付款失败但钱被扣了两次怎么办？", k=5)
    for src in result.results:
        doc = service.document(src.doc_id)
        assert doc.text[src.start:src.end] == src.text
        assert src.chunk_id.startswith(src.doc_id + ":")
        for start, end in src.highlights:
            assert 0 <= start < end <= len(src.text)
    assert len({(r.doc_id, r.start) for r in result.results}) == len(result.results)


def test_answer_is_copied_from_cited_sources(service: QAService) -> None:
    result = service.ask("付款失败但钱被扣了两次怎么办？")
    assert result.answered is True
    pieces = re.findall(r"(.+?)\[(\d+)\]", result.answer)
    assert 1 <= len(pieces) <= 3 and len(re.sub(r"\[\d+\]", "", result.answer)) <= 200
    for sentence, n in pieces:
        source = result.sources[int(n) - 1]
        assert sentence in service.document(source.doc_id).text
    assert "重复扣款" in result.answer


def test_traditional_question_matches_simplified_terms(service: QAService) -> None:
    result = service.search("支付失敗了怎麼辦", k=3)
    marked = {src.text[s:e] for src in result.results for s, e in src.highlights}
    assert {"支付", "失败"} <= marked
