"""Metric computations on tiny hand-made cases and question-file parsing (qa/evaluation.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.errors import QAError
from qa.evaluation import Question, answer_sentences, judge, load_questions, match_form, roc_auc, summarize
from qa.results import AskResult, Signals, Source


def _result(answer: str, sources: list[Source], answered: bool = True, took: float = 10.0,
            answerability: float = 0.5) -> AskResult:
    return AskResult(question="?", answer=answer, answered=answered, answerability=answerability,
                     calibrated=True, quotes=[],
                     matched_question=None, related_questions=[], suggestions=[], sources=sources, took_ms=took,
                     build_id="b1")


def _src(doc_id: str, text: str) -> Source:
    return Source(n=1, doc_id=doc_id, title=doc_id, url=None, date=None, chunk_id=f"{doc_id}:0", text=text, start=0,
                  end=len(text), score=0.0, signals=Signals(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None), highlights=[],
                  kind="passage", matched_question=None)


def test_corpus_text_gold_ignores_whitespace_and_punctuation() -> None:
    q = Question("q", "?", gold=("确认是否有重复扣款现象",))
    assert q.is_hit(_src("a", "查看交易记录，确认是否有 重复扣款现象。"))
    assert not q.is_hit(_src("a", "网络信号不稳定"))
    assert match_form("Wi-Fi，４Ｇ網路") == "wifi4g网路"


def test_judge_ranks_citations_and_answer_hit() -> None:
    q = Question("q", "?", gold=("重复扣款",))
    sources = [_src("a", "网络问题"), _src("b", "确认是否有重复扣款"), _src("c", "重复扣款要反馈")]
    j = judge(q, _result("确认是否有重复扣款。[2]网络问题。[1]", sources))
    assert (j.first_hit, j.citations, j.correct_citations, j.answer_hit) == (2, 2, 1, True)
    miss = judge(q, _result("网络问题。[1]", sources))
    assert (miss.answer_hit, miss.correct_citations) == (False, 0)


def test_benchmark_gold_uses_doc_id_and_answer_strings() -> None:
    q = Question("q", "?", doc_id="D1", answers=("1998年",))
    j = judge(q, _result("该公司成立于1998年。[1]", [_src("D1", "x"), _src("D2", "y")]))
    assert (j.first_hit, j.answer_hit) == (1, True)
    assert judge(q, _result("成立于1999年。[1]", [_src("D2", "y")])).first_hit is None


def test_summary_metrics_by_hand() -> None:
    gold = Question("a", "?", gold=("甲",))
    judgements = [
        judge(gold, _result("甲。[1]", [_src("d", "甲")], took=10)),  # rank 1, right citation
        judge(gold, _result("乙。[1]丙。[2]", [_src("d", "乙"), _src("d", "丙甲")], took=20)),  # rank 2
        judge(gold, _result("", [_src("d", "乙")], answered=False, took=30)),  # miss, wrongly abstained
        judge(Question("u", "?", unanswerable=True), _result("", [_src("d", "乙")], answered=False, took=40)),
        judge(Question("v", "?", unanswerable=True), _result("乙。[1]", [_src("d", "乙")], took=50)),
    ]
    m = summarize(judgements)
    assert (m["answerable"], m["unanswerable"]) == (3, 2)
    assert (m["recall@1"], m["recall@3"], m["recall@5"]) == (round(1 / 3, 4), round(2 / 3, 4), round(2 / 3, 4))
    assert m["mrr"] == round((1 + 0.5) / 3, 4)
    assert m["answer_hit"] == round(2 / 3, 4)
    assert m["citation_precision"] == round(2 / 3, 4)  # markers on answerable questions: [1] ok, [1] no, [2] ok
    assert (m["abstained_unanswerable"], m["false_abstention"]) == (0.5, round(1 / 3, 4))
    assert (m["latency_p50_ms"], m["latency_p95_ms"]) == (30.0, 50.0)


def test_answer_sentences_split_at_citation_runs() -> None:
    assert answer_sentences("甲说。[1]乙说。[1][2]丙说。[3]") == ["甲说。", "乙说。", "丙说。"]
    assert answer_sentences("") == []


def test_sentence_precision_and_first_sentence_hit_by_hand() -> None:
    q = Question("q", "?", gold=("重复扣款",), answer_sentences=("确认是否有重复扣款",))
    src = [_src("d", "确认是否有重复扣款现象")]
    judgements = [
        judge(q, _result("确认是否有重复扣款现象。[1]保持冷静。[1]", src)),  # 1 of 2 gold, first is gold
        judge(q, _result("保持冷静。[1]确认是否有 重复扣款现象。[1]网络。[1]", src)),  # 1 of 3, first is not
        judge(q, _result("", src, answered=False)),  # abstained: no precision, a first-sentence miss
    ]
    assert [j.gold_sentences for j in judgements] == [(True, False), (False, True, False), ()]
    m = summarize(judgements)
    assert m["sentence_precision"] == round((1 / 2 + 1 / 3) / 2, 4)
    assert m["first_sentence_hit"] == round(1 / 3, 4)
    assert m["answer_sentence_hit"] == round(2 / 3, 4)  # some sentence is gold in the first two answers
    lengths = len("确认是否有重复扣款现象。保持冷静。") + len("保持冷静。确认是否有 重复扣款现象。网络。")
    assert m["answer_chars_p50"] == lengths / 2


def test_answer_hit_at_1_counts_only_questions_ranked_right() -> None:
    q = Question("q", "?", doc_id="faq-1", answers=("faq-1",))
    right, wrong = _src("faq-1", "x"), _src("faq-2", "y")
    judgements = [judge(q, _result("这是 faq-1 的答复。[1]", [right])),  # ranked first, answer is the entry's
                  judge(q, _result("问题原文。[1]", [right])),  # ranked first, answer quotes something else
                  judge(q, _result("这是 faq-1 的答复。[2]", [wrong, right]))]  # ranked second: not counted
    m = summarize(judgements)
    assert (m["answer_hit_at_1"], m["answer_hit"]) == (0.5, round(2 / 3, 4))


def test_benchmark_questions_judge_sentences_by_answer_strings() -> None:
    q = Question("q", "?", doc_id="D1", answers=("1998年",))
    j = judge(q, _result("成立于1998年。[1]总部在台北。[1]", [_src("D1", "x")]))
    assert j.gold_sentences == (True, False)
    assert summarize([j])["sentence_precision"] == 0.5


def test_abstention_auc_by_hand() -> None:
    assert roc_auc([0.9, 0.8], [0.1, 0.2]) == 1.0
    assert roc_auc([0.1], [0.9]) == 0.0
    assert roc_auc([0.5, 0.9], [0.5, 0.1]) == round((0.5 + 1 + 1 + 1) / 4, 4)  # a tie counts half
    assert roc_auc([0.5], []) is None and roc_auc([None], [0.1]) is None
    answerable = Question("a", "?", gold=("甲",))
    unanswerable = Question("u", "?", unanswerable=True)
    judgements = [judge(answerable, _result("甲。[1]", [_src("d", "甲")], answerability=0.7)),
                  judge(unanswerable, _result("", [_src("d", "乙")], answered=False, answerability=-0.2))]
    assert summarize(judgements)["abstention_auc"] == 1.0


@pytest.mark.parametrize(("line", "message"), [
    ("{not json", "invalid JSON"),
    ('["a list"]', "non-empty string `question`"),
    ('{"question": "  "}', "non-empty string `question`"),
    ('{"question": "x"}', "give `gold`"),
    ('{"question": "x", "gold": "not a list"}', "give `gold`"),
    ('{"question": "x", "doc_id": "d", "answers": [1]}', "`answers` must be a list of strings"),
    ('{"question": "x", "gold": ["g"], "answer_sentences": "s"}', "`answer_sentences` must be a list"),
    ('{"question": "x", "unanswerable": true, "answer_sentences": ["s"]}', "has no `answer_sentences`"),
])
def test_malformed_question_line_names_file_and_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "q.jsonl"
    path.write_text('{"question": "ok", "unanswerable": true}\n\n' + line + "\n", encoding="utf-8")
    with pytest.raises(QAError, match=rf"q.jsonl:3: .*{message}"):
        load_questions(path)
