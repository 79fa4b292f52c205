"""The gaps report: unmet questions clustered by need, each named, counted, dated, and re-asked against the index."""

from __future__ import annotations

import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import numpy as np

from qa.gaps.cluster import cluster
from qa.gaps.labels import label_terms
from qa.gaps.read import Asked, Stream
from qa.index.cache import CachedEncoder
from qa.normalize import normalize
from qa.results import AskResult, Source
from qa.service import QAService

EXAMPLES = 5
COMMENTS = 5
EXCERPT_CHARS = 160
Status = Literal["now answered", "still open", "not checked"]  # not checked: there was no index to ask


@dataclass(frozen=True)
class PassageRef:
    doc_id: str
    title: str
    chunk_id: str
    text: str  # the passage's start, at most EXCERPT_CHARS characters
    score: float


@dataclass(frozen=True)
class Cluster:
    label: str
    terms: list[str]
    count: int  # unmet questions: abstained + unhelpful
    abstained: int
    unhelpful: int  # answered, and marked unhelpful
    first_seen: str
    last_seen: str
    typical: str  # the most typical wording, the one re-asked
    examples: list[str]  # wordings, most asked first
    wordings: int
    comments: list[str]  # the latest feedback comments
    closest: PassageRef | None  # the best passage for the typical question in the current index
    now_answered: bool  # False as well when not checked
    status: Status
    answer: str | None  # the current answer, when now answered
    answer_source: PassageRef | None  # the passage the answer's first sentence is quoted from


@dataclass(frozen=True)
class Totals:
    lines: int
    questions: int
    answered: int
    abstained: int
    helpful: int  # questions marked helpful
    unhelpful: int  # questions marked unhelpful (answered or not)
    unmatched_feedback: int  # feedback on a request id no file holds a question for
    gaps: int  # abstained, or answered and marked unhelpful
    clusters: int
    skipped_lines: int


@dataclass(frozen=True)
class Report:
    generated_at: str
    since: str | None
    files: list[str]
    model: str
    build_id: str | None  # None: no index, the clusters were not re-asked (see unchecked)
    threshold: float
    totals: Totals
    clusters: list[Cluster]  # the largest, re-asked
    other_clusters: int  # smaller clusters left out of `clusters`
    other_questions: int
    skipped_examples: list[str]
    unchecked: str | None = None  # why the clusters were not re-asked ("now answered" was not checked)


def wording_key(text: str) -> str:
    """Wordings that differ only in case, script, width, spaces or punctuation are one."""
    kept = "".join(c for c in normalize(text) if not unicodedata.category(c).startswith(("P", "Z", "C")))
    return kept or text


def build_report(stream: Stream, service: QAService | None, encoder: CachedEncoder, threshold: float, limit: int,
                 since: datetime | None = None, unchecked: str | None = None) -> Report:
    """Cluster the stream's unmet questions, label every cluster, re-ask the `limit` largest (when there is a
    service: without an index, unchecked says why they were not)."""
    by_key: dict[str, list[Asked]] = {}
    keys_of: dict[str, str] = {}  # most questions repeat a wording: normalise each text once
    for asked in stream.questions:
        if asked.gap:
            text = asked.event.question
            key = keys_of.get(text) or keys_of.setdefault(text, wording_key(text))
            by_key.setdefault(key, []).append(asked)
    keys = list(by_key)
    texts = [Counter(a.event.question for a in by_key[k]).most_common(1)[0][0] for k in keys]
    vectors = encoder.encode(texts)[0] if texts else np.zeros((0, 1), dtype=np.float32)
    weights = np.array([len(by_key[k]) for k in keys], dtype=np.float64)
    groups = sorted(cluster(vectors, weights, threshold), key=lambda g: -sum(weights[m] for m in g.members))
    # named among the reported clusters: tokenising every wording of a large stream cost 7 s of 43 (100k events)
    terms = label_terms([[(texts[m], int(weights[m])) for m in g.members] for g in groups[:limit]])
    clusters = [_cluster([by_key[keys[m]] for m in g.members], [texts[m] for m in g.members], group_terms,
                         service.ask(texts[g.leader], vector=vectors[g.leader]) if service else None)
                for g, group_terms in zip(groups[:limit], terms, strict=True)]
    gaps = sum(len(v) for v in by_key.values())
    build = service.live.get() if service else None
    return Report(
        generated_at=_iso(datetime.now(UTC)), since=_iso(since) if since else None,
        files=[str(f) for f in stream.files], model=encoder.embedder.model_id,
        build_id=build.build_id if build else None, unchecked=unchecked,
        threshold=threshold, totals=_totals(stream, gaps, len(groups)), clusters=clusters,
        other_clusters=max(0, len(groups) - limit), other_questions=gaps - sum(c.count for c in clusters),
        skipped_examples=stream.skipped_examples)


def _cluster(members: Sequence[list[Asked]], texts: list[str], terms: list[str],
             result: AskResult | None) -> Cluster:
    """One cluster of the report; result is its typical question (texts[0]) asked again now (None: not asked)."""
    asked = [a for wording in members for a in wording]
    times = sorted(a.at for a in asked)
    comments = [c for a in sorted(asked, key=lambda a: a.at, reverse=True) for c in a.comments][:COMMENTS]
    # an answer people already marked unhelpful (same build, same first source) is not a closed gap
    judged = {(a.event.build_id, a.event.sources[0].doc_id) for a in asked if a.unhelpful and a.event.sources}
    source = _answer_source(result) if result else None
    now_answered = result is not None and source is not None and (result.build_id, source.doc_id) not in judged
    abstained = sum(1 for a in asked if not a.event.answered)
    return Cluster(
        label=" · ".join(terms) or texts[0], terms=terms, count=len(asked), abstained=abstained,
        unhelpful=len(asked) - abstained, first_seen=_iso(times[0]), last_seen=_iso(times[-1]), typical=texts[0],
        examples=texts[:EXAMPLES], wordings=len(texts), comments=comments,
        closest=_ref(result.sources[0]) if result and result.sources else None, now_answered=now_answered,
        status="not checked" if result is None else "now answered" if now_answered else "still open",
        answer=result.answer if result and now_answered else None,
        answer_source=_ref(source) if now_answered and source else None)


def _answer_source(result: AskResult) -> Source | None:
    """The source of the answer's first sentence, or None when the service abstains."""
    if not result.answered or not result.sources:
        return None
    n = result.quotes[0].n if result.quotes else 1
    return result.sources[n - 1]


def _totals(stream: Stream, gaps: int, clusters: int) -> Totals:
    answered = sum(1 for a in stream.questions if a.event.answered)
    return Totals(lines=stream.lines, questions=len(stream.questions), answered=answered,
                  abstained=len(stream.questions) - answered, helpful=stream.helpful, unhelpful=stream.unhelpful,
                  unmatched_feedback=stream.unmatched_feedback, gaps=gaps, clusters=clusters,
                  skipped_lines=stream.skipped)


def _ref(source: Source) -> PassageRef:
    text = " ".join(source.text.split())
    excerpt = text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS - 1] + "…"
    return PassageRef(source.doc_id, source.title, source.chunk_id, excerpt, source.score)


def _iso(time: datetime) -> str:
    return time.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
