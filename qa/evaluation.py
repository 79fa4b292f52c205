"""Quality evaluation: question files, per-question judgements, and the metrics `qa eval` reports."""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import QAError
from qa.normalize import normalize
from qa.results import AskResult, Source

METRICS = ("recall@1", "recall@3", "recall@5", "mrr", "answer_hit", "answer_hit_at_1", "citation_precision",
           "sentence_precision", "first_sentence_hit", "answer_sentence_hit", "answer_chars_p50",
           "abstained_unanswerable", "false_abstention", "abstention_auc", "latency_p50_ms", "latency_p95_ms")
_CITATION = re.compile(r"\[(\d+)\]")
_CITATION_RUN = re.compile(r"(?:\[\d+\])+")
# Whitespace and punctuation (ASCII and CJK) are ignored when matching gold text.
_IGNORED = re.compile(r"[\s\u3000-\u303f\uff00-\uff0f\uff1a-\uff20!-/:-@\[-`{-~…—·“”‘’]+")


@dataclass(frozen=True)
class Question:
    id: str
    question: str
    gold: tuple[str, ...] = ()  # corpus-text gold: pieces of the gold passage's text
    doc_id: str | None = None  # benchmark gold: the gold document
    answers: tuple[str, ...] = ()  # benchmark gold: accepted answer strings
    unanswerable: bool = False
    answer_sentences: tuple[str, ...] = ()  # pieces of the sentences that answer (corpus-text gold)

    def is_gold_sentence(self, sentence: str) -> bool:
        """An answer sentence is gold when it holds a marked answer-sentence piece (or, for benchmark
        questions without marked sentences, an accepted answer string)."""
        text = match_form(sentence)
        return any(match_form(p) and match_form(p) in text for p in self.answer_sentences or self.answers)

    def is_hit(self, source: Source) -> bool:
        if self.doc_id is not None:
            return source.doc_id == self.doc_id
        text = match_form(source.text)
        return any(match_form(g) in text for g in self.gold)


@dataclass(frozen=True)
class Judgement:
    """What one `ask` result scored against its question."""

    question: Question
    first_hit: int | None  # 1-based rank of the first hit source
    answered: bool
    answer_hit: bool
    citations: int
    correct_citations: int
    took_ms: float
    gold_sentences: tuple[bool, ...] = ()  # per answer sentence, in answer order: is it gold?
    answerability: float | None = None  # the service's score: higher means more likely answerable
    answer_chars: int = 0  # length of the answer without its [n] markers


def match_form(text: str) -> str:
    return _IGNORED.sub("", normalize(text))


def load_questions(path: Path) -> list[Question]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise QAError(f"cannot read question file {path}: {exc}") from exc
    questions = [_parse_line(path, n, line) for n, line in enumerate(lines, start=1) if line.strip()]
    if not questions:
        raise QAError(f"{path} holds no questions: write one JSON object per line")
    return questions


def _parse_line(path: Path, n: int, line: str) -> Question:
    where = f"{path}:{n}"
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise QAError(f"{where}: invalid JSON ({exc.msg})") from None
    if not isinstance(raw, dict) or not isinstance(raw.get("question"), str) or not raw["question"].strip():
        raise QAError(f"{where}: each line must be an object with a non-empty string `question`")
    qid = str(raw.get("id", f"line{n}"))
    if raw.get("unanswerable") is True:
        if "answer_sentences" in raw:
            raise QAError(f"{where}: an unanswerable question has no `answer_sentences`")
        return Question(qid, raw["question"], unanswerable=True)
    if isinstance(raw.get("doc_id"), str):
        answers = raw.get("answers", [])
        if not _strings(answers):
            raise QAError(f"{where}: `answers` must be a list of strings")
        return Question(qid, raw["question"], doc_id=raw["doc_id"], answers=tuple(answers))
    gold = raw.get("gold")
    if not _strings(gold) or not gold:
        raise QAError(f"{where}: give `gold` (list of passage-text pieces), `doc_id` + `answers`, "
                      f"or `unanswerable: true`")
    sentences = raw.get("answer_sentences", [])
    if not _strings(sentences):
        raise QAError(f"{where}: `answer_sentences` must be a list of strings (pieces of the answering sentences)")
    return Question(qid, raw["question"], gold=tuple(gold), answer_sentences=tuple(sentences))


def _strings(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def judge(question: Question, result: AskResult) -> Judgement:
    hits = [question.is_hit(s) for s in result.sources]
    first = next((i + 1 for i, h in enumerate(hits) if h), None)
    cited = [int(n) for n in _CITATION.findall(result.answer)]
    correct = sum(1 for n in cited if 1 <= n <= len(hits) and hits[n - 1])
    if question.answers:
        plain = match_form(_CITATION.sub("", result.answer))
        answer_hit = any(match_form(a) in plain for a in question.answers if match_form(a))
    else:
        answer_hit = correct > 0
    sentences = answer_sentences(result.answer) if result.answered else []
    return Judgement(question, first, result.answered, result.answered and answer_hit,
                     len(cited), correct, result.took_ms,
                     tuple(question.is_gold_sentence(s) for s in sentences), result.answerability,
                     len(_CITATION.sub("", result.answer)))


def answer_sentences(answer: str) -> list[str]:
    """The quoted sentences of an extractive answer: the text before each run of [n] markers (without the line
    break that starts a new unit)."""
    return [part.lstrip("\n") for part in _CITATION_RUN.split(answer) if part.strip()]


def summarize(judgements: Sequence[Judgement]) -> dict[str, float | int | None]:
    answerable = [j for j in judgements if not j.question.unanswerable]
    unanswerable = [j for j in judgements if j.question.unanswerable]
    cited = sum(j.citations for j in answerable)
    latencies = sorted(j.took_ms for j in judgements)

    def share(items: Iterable[bool], total: int) -> float | None:
        return round(sum(items) / total, 4) if total else None

    n = len(answerable)
    # sentence metrics need sentence gold: marked answer sentences, or benchmark answer strings
    sentence_judged = [j for j in answerable if j.question.answer_sentences or j.question.answers]
    ranked_first = [j for j in answerable if j.first_hit == 1]
    lengths = [j.answer_chars for j in answerable if j.answered]
    return {
        "questions": len(judgements), "answerable": n, "unanswerable": len(unanswerable),
        **{f"recall@{k}": share((j.first_hit is not None and j.first_hit <= k for j in answerable), n)
           for k in (1, 3, 5)},
        "mrr": round(sum(1 / j.first_hit for j in answerable if j.first_hit) / n, 4) if n else None,
        "answer_hit": share((j.answer_hit for j in answerable), n),
        # of the questions whose first source is right: does the answer hold the answer (an FAQ entry's own)?
        "answer_hit_at_1": share((j.answer_hit for j in ranked_first), len(ranked_first)),
        "citation_precision": round(sum(j.correct_citations for j in answerable) / cited, 4) if cited else None,
        "abstained_unanswerable": share((not j.answered for j in unanswerable), len(unanswerable)),
        "sentence_precision": _mean(sum(j.gold_sentences) / len(j.gold_sentences)
                                    for j in sentence_judged if j.gold_sentences),
        "first_sentence_hit": share((bool(j.gold_sentences) and j.gold_sentences[0] for j in sentence_judged),
                                    len(sentence_judged)),
        "answer_sentence_hit": share((any(j.gold_sentences) for j in sentence_judged), len(sentence_judged)),
        "answer_chars_p50": statistics.median(lengths) if lengths else None,
        "false_abstention": share((not j.answered for j in answerable), n),
        "abstention_auc": roc_auc([j.answerability for j in answerable], [j.answerability for j in unanswerable]),
        "latency_p50_ms": round(statistics.median(latencies), 1) if latencies else None,
        "latency_p95_ms": round(_percentile(latencies, 0.95), 1) if latencies else None,
    }


def _mean(values: Iterable[float]) -> float | None:
    items = list(values)
    return round(sum(items) / len(items), 4) if items else None


def roc_auc(positives: Sequence[float | None], negatives: Sequence[float | None]) -> float | None:
    """Probability that a random positive scores above a random negative (ties count half); None when a class
    is empty or a score is missing."""
    pos = [v for v in positives if v is not None]
    neg = [v for v in negatives if v is not None]
    if not pos or not neg or len(pos) < len(positives) or len(neg) < len(negatives):
        return None
    wins = sum(float(p > q) + 0.5 * float(p == q) for p in pos for q in neg)
    return round(wins / (len(pos) * len(neg)), 4)


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def evaluate(questions: Sequence[Question], ask: Callable[[str], AskResult],
             progress: Callable[[int], None] | None = None) -> list[Judgement]:
    judgements = []
    for question in questions:
        judgements.append(judge(question, ask(question.question)))
        if progress:
            progress(1)
    return judgements


def format_table(results: dict[str, dict[str, Any]]) -> str:
    """Metrics as rows, one column per mode."""
    modes = list(results)
    names = [k for k in next(iter(results.values())) if k not in {"questions", "answerable", "unanswerable"}]
    width = max(len(n) for n in names) + 2
    lines = ["".ljust(width) + "".join(m.rjust(10) for m in modes)]
    for name in names:
        cells = ["-" if results[m][name] is None else f"{results[m][name]:.3f}".rstrip("0").rstrip(".")
                 if isinstance(results[m][name], float) else str(results[m][name]) for m in modes]
        lines.append(name.ljust(width) + "".join(c.rjust(10) for c in cells))
    first = next(iter(results.values()))
    lines.append(f"({first['questions']} questions: {first['answerable']} answerable, "
                 f"{first['unanswerable']} unanswerable)")
    return "\n".join(lines)
