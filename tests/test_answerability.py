"""Answerability features and model, sentence evidence, and the answer's sentence selection on the seed index."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from qa.chunking import split_sentences
from qa.encoders import Embedder
from qa.fitted import load_fitted
from qa.fitted.records import AnswerabilityFit, AnswerParams, Linear, Provenance
from qa.query import answerability
from qa.query.answer import select
from qa.query.answerability import FEATURES, asks_number, probability
from qa.query.evidence import _sentences
from qa.query.units import Candidate
from qa.service import QAService

# select()'s rules at explicit settings (a further sentence within 4 points of the best)
ANSWER = AnswerParams(sources_considered=2, max_sentences=4, max_units=3, max_chars=200, keep_margin=4.0,
                      faq_max_chars=400)
ITEM_TEXT = "1. 密码错误问题:用户常常输错密码。对此,用户可找回密码。\n\n2. 检查网络:确保网络稳定。以太坊还..."


def test_expected_answer_type_asks_for_a_figure() -> None:
    for question in ("工行客服電話是多少", "TokenPocket是哪一年成立的", "退款要几天", "How much is the fee?"):
        assert asks_number(question), question
    for question in ("付款失败怎么办", "为什么付不了款", "Can I pay with wifi?"):
        assert not asks_number(question), question


@pytest.mark.parametrize(("text", "figure"), [
    ("已为全球近千万用户提供", True), ("需要三天", True), ("切换到4G网络", True),
    ("确保网络十分重要", False), ("一种便捷的支付方式", False)])
def test_figures_in_sentences(text: str, figure: bool) -> None:
    assert bool(answerability._FIGURE.search(text)) is figure


def test_sentences_know_items_heads_and_fragments() -> None:
    spans = split_sentences(ITEM_TEXT)
    assert len(spans) == 4
    sentences = _sentences("d", ITEM_TEXT, 0, spans, np.array([0.9, 0.8, 0.7, 0.6]), source=1)
    assert [s.text for s in sentences] == [
        "密码错误问题:用户常常输错密码。", "对此,用户可找回密码。", "检查网络:确保网络稳定。", "以太坊还..."]
    assert [s.item for s in sentences] == [0, 0, 1, 1]
    assert [s.opens_item for s in sentences] == [True, False, True, False]
    assert [s.asks for s in sentences] == [False, False, False, False]
    assert [s.truncated for s in sentences] == [False, False, False, True]
    assert sentences[0].start == 3 and ITEM_TEXT[sentences[0].start:sentences[0].end] == sentences[0].text


def test_answer_units_group_the_chosen_sentences_unit_by_unit() -> None:
    sentences = _sentences("d", ITEM_TEXT, 0, split_sentences(ITEM_TEXT), np.array([0.9, 0.8, 0.7, 0.6]), source=1)
    cands = [Candidate(s, (1, s.item), 0, 0.0) for s in sentences]
    # the item's second sentence scores best: it leads, its head follows it, then the other item
    groups = select(cands, np.array([2.0, 3.0, 2.5, 9.0]), ANSWER)
    assert [[p.text for p in g] for g in groups] == [["对此,用户可找回密码。", "密码错误问题:用户常常输错密码。"],
                                                     ["检查网络:确保网络稳定。"]]  # the teaser never answers
    only = select(cands, np.array([2.0, 3.0, -5.0, 0.0]), ANSWER)  # beyond keep_margin: left out
    assert [[p.text for p in g] for g in only] == [["对此,用户可找回密码。", "密码错误问题:用户常常输错密码。"]]
    assert select(cands, np.array([2.0, 3.0, 2.5, 9.0]), replace(ANSWER, max_units=1))[1:] == []


def test_model_is_a_standardised_logistic_regression() -> None:
    weights = Linear(("a", "b"), np.array([1.0, 0.0]), np.array([2.0, 1.0]), np.array([1.0, -1.0]))
    fit = AnswerabilityFit(weights, 0.5, 0.5, Provenance("t", "m", (), "c", "now", None, {}))
    z = 0.5 + (3.0 - 1.0) / 2.0 - 1.0 * 2.0
    assert probability(fit, {"a": 3.0, "b": 2.0}) == pytest.approx(1 / (1 + np.exp(-z)))


def test_shipped_model_uses_known_features(embedder: Embedder) -> None:
    model = load_fitted(embedder.model_id).answerability
    assert model is not None and set(model.weights.features) <= set(FEATURES) and 0.0 < model.threshold < 1.0
    w = model.weights
    assert len(w.coef) == len(w.mean) == len(w.scale) == len(w.features)


def test_answerability_orders_questions_and_abstains(service: QAService) -> None:
    answerable = service.ask("付款失败但钱被扣了两次怎么办？")
    off_topic = service.ask("Who won the NBA finals last year?")
    assert answerable.answered and not off_topic.answered
    assert answerable.answerability > off_topic.answerability
    assert off_topic.answer == "" and off_topic.quotes == []


def test_a_figure_the_corpus_does_not_give_counts_against_answering(service: QAService) -> None:
    retriever = service.retriever
    from qa.query import faqhits
    from qa.query.answer import gather_sentences

    query = retriever.prepare("工行客服热线的电话号码是多少")
    hits = retriever.rank(query, 5, "hybrid")
    values = answerability.features(retriever, query, hits, gather_sentences(query, faqhits.examine(query, hits[:2])))
    assert set(values) == set(FEATURES) and values["number_mismatch"] == 1.0


def test_answer_sentences_answer_rather_than_restate(service: QAService) -> None:
    result = service.ask("登录密码老是输错进不去，应该怎么办")
    assert result.answered
    assert "找回密码" in result.answer.split("\n")[0]  # the item's head comes with what to do, in its own unit
    # no word of the question asks for a remedy (怎么办 …): the item's remedy follows its head all the same
    first_unit = service.ask("钱包里的付款按钮点了没反应").answer.split("\n")[0]
    assert "支付按钮无法使用" in first_unit and "重启应用" in first_unit
    for question in ("加密数字钱包有什么用", "区块链钱包能存以太坊吗", "OSDT数字钱包怎么样"):
        answer = service.ask(question).answer
        assert "..." not in answer and "…" not in answer  # a cut-off teaser is never an answer sentence
