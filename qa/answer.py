"""Extractive answers: pick the source sentences that answer the question, cite them, or abstain."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from qa import answerability, faq, faqhits
from qa.evidence import Sentence, hit_sentences, names_problem
from qa.normalize import normalize
from qa.retrieval import Hit, Query, Retriever

# The question asks what to do (not why, not whether): a sentence naming the problem only restates it.
_ASKS_REMEDY = re.compile(
    r"怎么办|咋办|咋整|怎么处理|怎么解决|如何解决|如何处理|该怎么|怎么弄"
    r"|\bwhat (?:now|should i do|can i do|do i do)\b|\bhow (?:do|can|should) i (?:fix|solve|deal)", re.IGNORECASE)


@dataclass(frozen=True)
class AnswerParams:
    """Chosen by `tools/tune_answer.py` on the seed dev set (see README, Quality)."""

    sources_considered: int = 2  # sentences are drawn from this many top sources
    max_sentences: int = 3
    max_chars: int = 200
    keep_margin: float = 0.06  # a further sentence must score within this of the best one (cosine units)
    w_sentence: float = 1.0  # cosine of the question with the sentence
    w_coverage: float = 0.0  # IDF-weighted share of question terms in the sentence
    w_source: float = 2.0  # how far the sentence's source scores below the best source (fused units)
    # asked what to do, a list item's head that only names the problem gives way to the item's next sentence
    follow_heads: bool = True
    # an FAQ entry's answer is quoted whole up to this length, else cut at a sentence end (the [n] leads on)
    faq_max_chars: int = 400


@dataclass(frozen=True)
class Picked:
    source: int  # 1-based source number
    doc_id: str
    start: int  # offsets into the document's text
    end: int
    text: str
    score: float


@dataclass(frozen=True)
class Answer:
    answered: bool
    text: str
    sentences: list[Picked] = field(default_factory=list)
    answerability: float = 0.0  # calibrated probability that the corpus answers the question
    matched_question: str | None = None  # answered from an FAQ entry: its question nearest the one asked
    cut: bool = False  # the FAQ answer was cut at a sentence end (its [n] leads to the whole entry)


def gather_sentences(retriever: Retriever, query: Query, hits: list[Hit],
                     kinds: list[str] | None = None) -> list[Sentence]:
    """The sentences of the given hits, in source order (an FAQ entry's questions marked, given the kinds)."""
    kinds = kinds or faqhits.kinds(retriever, hits)
    return [s for n, (hit, kind) in enumerate(zip(hits, kinds, strict=False), start=1)
            for s in hit_sentences(query, hit, n, _questions(hit, kind))]


def _questions(hit: Hit, kind: str) -> int:
    return len(faq.question_spans(hit.chunk.text)) if kind == faqhits.FAQ else 0


def build_answer(retriever: Retriever, query: Query, hits: list[Hit], params: AnswerParams) -> Answer:
    """An FAQ entry ranked first answers with its own answer; else the passages' best sentences; or abstain."""
    kinds = faqhits.kinds(retriever, hits)
    sentences = gather_sentences(retriever, query, hits[: params.sources_considered], kinds)
    model = answerability.load_model()
    p = model.probability(answerability.features(retriever, query, hits, sentences))
    if hits and kinds[0] == faqhits.FAQ and p >= model.threshold:
        return _faq_answer(query, hits[0], params, p)
    candidates = [s for s in sentences if not s.truncated and not s.question]
    if not hits or p < model.threshold or not candidates:
        return Answer(answered=False, text="", answerability=p)
    scored = _score(query, hits, candidates, params)
    if params.follow_heads and asks_remedy(query.text):
        scored, candidates = _heads_give_way(scored, candidates)
    chosen = _select(scored, params)
    text = "".join(f"{c.text}[{c.source}]" for c in chosen)
    return Answer(answered=True, text=text, sentences=chosen, answerability=p)


def _faq_answer(query: Query, hit: Hit, params: AnswerParams, p: float) -> Answer:
    """The entry's answer verbatim (cut at a sentence end past faq_max_chars), cited to the entry."""
    quoted = faqhits.quote_answer(hit, params.faq_max_chars)
    matched = faqhits.match(query, hit)
    picked = Picked(1, hit.chunk.doc_id, quoted.start, quoted.end, quoted.text, matched.cosine)
    return Answer(answered=True, text=f"{quoted.text}[1]", sentences=[picked], answerability=p,
                  matched_question=matched.question, cut=quoted.cut)


def _score(query: Query, hits: list[Hit], sentences: list[Sentence], params: AnswerParams) -> list[Picked]:
    terms = {t: w for t, w in query.terms.items() if worth_marking(t)}
    total = sum(terms.values())
    top = hits[0].evidence
    picked = []
    for s in sentences:
        coverage = sum(w for t, w in terms.items() if t in s.matchable) / total if total else 0.0
        score = (params.w_sentence * s.cosine + params.w_coverage * coverage
                 + params.w_source * (hits[s.source - 1].evidence - top))
        picked.append(Picked(s.source, s.doc_id, s.start, s.end, s.text, score))
    return picked


def asks_remedy(question: str) -> bool:
    return bool(_ASKS_REMEDY.search(normalize(question)))


def _heads_give_way(scored: list[Picked], sentences: list[Sentence]) -> tuple[list[Picked], list[Sentence]]:
    """Drop problem-naming item heads; the item's next sentence (what to do) takes the head's score if higher."""
    keep: list[int] = []
    boosted = list(scored)
    for i, sentence in enumerate(sentences):
        nxt = i + 1
        if (names_problem(sentence) and nxt < len(sentences) and sentences[nxt].item == sentence.item
                and sentences[nxt].source == sentence.source):
            if scored[i].score > boosted[nxt].score:
                boosted[nxt] = replace(boosted[nxt], score=scored[i].score)
            continue
        keep.append(i)
    return [boosted[i] for i in keep], [sentences[i] for i in keep]


def _select(scored: list[Picked], params: AnswerParams) -> list[Picked]:
    """Best first, then those scoring within keep_margin of the best, within the length budget."""
    best = max(p.score for p in scored)
    chosen: list[Picked] = []
    used = 0
    for cand in sorted(scored, key=lambda p: -p.score):
        if len(chosen) == params.max_sentences or cand.score < best - params.keep_margin:
            break
        if (used + len(cand.text) > params.max_chars and chosen) or any(_same(cand, c) for c in chosen):
            continue
        chosen.append(cand)
        used += len(cand.text)
    return chosen


def _same(a: Picked, b: Picked) -> bool:
    # the same sentence reached through two overlapping sources
    return a.doc_id == b.doc_id and a.start < b.end and b.start < a.end


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


def worth_marking(term: str) -> bool:
    # a lone CJK character (钱, 付) would light up half the passage
    return len(term) >= 2 or term.isdigit()


def _occurrences(text: str, term: str) -> list[tuple[int, int]]:
    found = []
    start = text.find(term)
    while start != -1:
        found.append((start, start + len(term)))
        start = text.find(term, start + len(term))
    return found
