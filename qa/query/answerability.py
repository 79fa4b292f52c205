"""Answerability: features of a question and its retrieved evidence, combined by a fitted logistic model."""

from __future__ import annotations

import functools
import logging
import math
import re

import jieba
import jieba.posseg
import numpy as np

from qa.errors import QAError
from qa.fitted.records import AnswerabilityFit, Fitted
from qa.normalize import normalize
from qa.query.evidence import Sentence
from qa.query.retrieval import Hit, Query, Retriever
from qa.results import Signals
from qa.tokens import STOPWORDS

REFIT = "refit it with `python tools/fit_answerability.py --index-dir INDEX --write` (tools/README.md)"
# What the model may use; tools/fit_answerability.py chooses a subset and stores it with the fitted weights.
FEATURES = ("evidence", "dense", "sentence", "coverage", "sentence_coverage", "bigram_coverage", "unknown_noun",
            "novel_chars", "number_mismatch", "cross_lingual", "verifier", "verifier_logit", "faq", "question")
# Question words asking for a figure: an amount, a count, a duration, a date, a time, a phone number.
_ASKS_NUMBER = re.compile(
    r"多少|几[天次点号岁个年月分秒位种条笔]|多久|多长时间|多大|多高|多远|哪一?年|什么时候|何时|几时|日期|号码|电话是|热线是"
    r"|网址|邮箱|利率|汇率|收益率|股价"
    r"|\bhow (?:much|many|long|old)\b|\bwhat year\b|\bwhen\b|\bphone number\b|\bnumber of\b|\bprice\b|\brate\b",
    re.IGNORECASE)
# A figure in a sentence: digits, or a Chinese numeral with a magnitude or a unit ("近千万", "三天", "两次").
_FIGURE = re.compile(r"\d|[零一二两三四五六七八九十百千万亿]+[十百千万亿]|半[年天]"
                     r"|[一二两三四五六七八九十]+(?:年|月|日|天|周|次|元|块|岁|小时|分钟|秒|倍|成)")
MIN_CJK = 2  # Chinese characters a question needs for its words to be checked against the corpus
CHECKED_SENTENCES = 3  # the expected answer type is looked for in this many sentences closest to the question
# Noun-like part-of-speech tags: the words a question is about (a product, a name, a figure).
_CENTRAL_TAGS = ("n", "eng", "j", "m", "x")


def model(fitted: Fitted) -> AnswerabilityFit | None:
    """The model's fitted answerability, checked against the features this code computes; None when there is
    none (the model serves uncalibrated: no abstention on a threshold fitted for other vectors)."""
    fit = fitted.answerability
    unknown = set(fit.weights.features) - set(FEATURES) if fit else set()
    if unknown:
        raise QAError(f"{fitted.source} fits answerability on features {sorted(unknown)} the code does not "
                      f"compute; {REFIT}")
    return fit


def probability(fit: AnswerabilityFit, values: dict[str, float]) -> float:
    """p = sigmoid(intercept + coef . (x - mean) / scale) over the fit's features."""
    x = np.array([values[name] for name in fit.weights.features])
    z = fit.intercept + float(fit.weights.margin(x))
    return 1.0 / (1.0 + math.exp(-min(max(z, -50.0), 50.0)))  # clipped: exp must not overflow


def features(retriever: Retriever, query: Query, hits: list[Hit], sentences: list[Sentence]) -> dict[str, float]:
    """FEATURES of a question, its ranked hits and the sentences of its top sources."""
    top = hits[0].signals if hits else Signals(dense=0.0, sentence=0.0, coverage=0.0, bm25=0.0, hybrid=0.0,
                                               question=0.0, verifier=None)
    # a Chinese question naming a Latin-script product ("TokenPocket是…") still has Chinese words to check
    tagged = _tagged(normalize(query.text)) if _cjk_count(query.text) >= MIN_CJK else []
    best = sorted(sentences, key=lambda s: -s.cosine)[:CHECKED_SENTENCES]
    return {
        "evidence": top.hybrid, "dense": top.dense, "sentence": top.sentence, "coverage": top.coverage,
        "sentence_coverage": sentence_coverage(query, sentences), "bigram_coverage": bigram_coverage(tagged, sentences),
        "unknown_noun": unknown_noun(retriever, tagged), "novel_chars": novel_chars(tagged, sentences),
        "number_mismatch": float(asks_number(query.text) and not any(_FIGURE.search(s.text) for s in best)),
        "cross_lingual": float(query.cross_lingual),
        # the verifier's probability that the first source answers, having read both (0 when it read none); its
        # logit too, since a logistic model over a probability cannot tell 0.99 from 0.999
        "verifier": top.verifier or 0.0, "verifier_logit": _logit(top.verifier or 0.0),
        # an FAQ entry ranked first, and the cosine of the question with its nearest question (0 for a passage):
        # alone it separates LCQMC's near-misses from paraphrases better than the passage features (AUC 0.887)
        "faq": float(top.question > 0), "question": top.question,
    }


def _logit(p: float) -> float:
    p = min(max(p, 1e-4), 1 - 1e-4)
    return math.log(p / (1 - p))


def sentence_coverage(query: Query, sentences: list[Sentence]) -> float:
    """The best single sentence's IDF-weighted share of the question's terms: support per sentence."""
    terms = {t: w for t, w in query.terms.items() if len(t) >= 2 or t.isdigit()}
    total = sum(terms.values())
    if not total or not sentences:
        return 0.0
    return max(sum(w for t, w in terms.items() if t in s.matchable) for s in sentences) / total


def asks_number(question: str) -> bool:
    return bool(_ASKS_NUMBER.search(normalize(question)))


def novel_chars(tagged: list[tuple[str, str]], sentences: list[Sentence]) -> float:
    """Share of the question's content characters (stopwords left out) that no candidate sentence contains."""
    seen = set("".join(s.matchable for s in sentences))
    chars = [ch for word, _ in tagged if word not in STOPWORDS for ch in word if ch.isalnum()]
    return sum(ch not in seen for ch in chars) / len(chars) if chars else 0.0


def bigram_coverage(tagged: list[tuple[str, str]], sentences: list[Sentence]) -> float:
    """The best sentence's share of the question's content character pairs (robust to word segmentation)."""
    pairs = {w[i:i + 2] for w, _ in tagged if w not in STOPWORDS for i in range(len(w) - 1)}
    if not pairs or not sentences:
        return 0.0
    return max(sum(p in s.matchable for p in pairs) for s in sentences) / len(pairs)


def unknown_noun(retriever: Retriever, tagged: list[tuple[str, str]]) -> float:
    """1 when a noun-like word of two or more characters (a product, a name, a figure) never occurs in the corpus."""
    return float(any(len(word) >= 2 and flag.startswith(_CENTRAL_TAGS) and word not in STOPWORDS
                     and not retriever.knows(word) for word, flag in tagged))


def _cjk_count(text: str) -> int:
    return sum(1 for ch in text if "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff")


def _tagged(text: str) -> list[tuple[str, str]]:
    _posseg_ready()
    return [(pair.word, pair.flag) for pair in jieba.posseg.cut(text)]


@functools.cache
def _posseg_ready() -> None:
    # jieba logs its dictionary loading at INFO; posseg shares the default tokenizer's dictionary
    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
