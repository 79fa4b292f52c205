"""The two kinds of event line, typed: a question answered or abstained, and feedback on one; JSON both ways."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from qa.events.privacy import mask
from qa.results import AskResult

Channel = Literal["api", "page"]
CHANNELS: tuple[Channel, ...] = ("api", "page")
TOP_SOURCES = 3  # sources kept per question event
MAX_COMMENT_CHARS = 500
# Every source is a document passage until FAQ entries become their own kind (issue 15 adds Source.kind).
PASSAGE = "passage"


class EventFormatError(ValueError):
    """A line that is not an event of this format (the reader reports where)."""


@dataclass(frozen=True)
class SourceRef:
    """One of a question's top sources, as kept in its event."""

    doc_id: str
    kind: str
    score: float


@dataclass(frozen=True)
class QuestionEvent:
    time: str  # ISO 8601, UTC
    request_id: str
    channel: Channel
    question: str  # masked
    answered: bool
    answerability: float
    sources: tuple[SourceRef, ...]
    build_id: str
    took_ms: float

    @classmethod
    def of(cls, result: AskResult, request_id: str, channel: Channel, time: datetime | None = None
           ) -> QuestionEvent:
        """The event of one ask, its question masked (qa.events.privacy)."""
        return cls(time=iso(time), request_id=request_id, channel=channel, question=mask(result.question),
                   answered=result.answered, answerability=result.answerability,
                   sources=tuple(SourceRef(s.doc_id, PASSAGE, s.score) for s in result.sources[:TOP_SOURCES]),
                   build_id=result.build_id, took_ms=result.took_ms)

    def to_json(self) -> str:
        # type and request_id lead every line: EventLog.knows() finds a question by that prefix
        return _dumps({"type": "question", "request_id": self.request_id, "time": self.time,
                       "channel": self.channel, "question": self.question, "answered": self.answered,
                       "answerability": self.answerability,
                       "sources": [{"doc_id": s.doc_id, "kind": s.kind, "score": s.score} for s in self.sources],
                       "build_id": self.build_id, "took_ms": self.took_ms})


@dataclass(frozen=True)
class FeedbackEvent:
    time: str
    request_id: str
    helpful: bool
    comment: str | None  # masked
    known_request: bool  # this server had written a question event with that request id

    @classmethod
    def of(cls, request_id: str, helpful: bool, comment: str | None, known_request: bool,
           time: datetime | None = None) -> FeedbackEvent:
        return cls(time=iso(time), request_id=request_id, helpful=helpful,
                   comment=None if comment is None else mask(comment), known_request=known_request)

    def to_json(self) -> str:
        return _dumps({"type": "feedback", "request_id": self.request_id, "time": self.time,
                       "helpful": self.helpful, "comment": self.comment, "known_request": self.known_request})


Event = QuestionEvent | FeedbackEvent


def question_prefix(request_id: str) -> bytes:
    """How the line of a question event with this request id starts (see QuestionEvent.to_json)."""
    return _dumps({"type": "question", "request_id": request_id})[:-1].encode("utf-8") + b","


def iso(time: datetime | None = None) -> str:
    return (time or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(text: str) -> datetime:
    """An event's time (ISO 8601; naive times are UTC)."""
    stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse(line: str) -> Event:
    """One line back into its event, or EventFormatError saying what is wrong with it."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EventFormatError(f"not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise EventFormatError("not a JSON object")
    fields = _Fields(raw)
    kind = fields.get("type", str)
    if kind == "question":
        channel = fields.get("channel", str)
        if channel not in CHANNELS:
            raise EventFormatError(f"`channel` must be one of {', '.join(CHANNELS)}")
        return QuestionEvent(time=fields.time(), request_id=fields.get("request_id", str), channel=channel,
                             question=fields.get("question", str), answered=fields.get("answered", bool),
                             answerability=fields.number("answerability"), sources=fields.sources(),
                             build_id=fields.get("build_id", str), took_ms=fields.number("took_ms"))
    if kind == "feedback":
        comment = raw.get("comment")
        if comment is not None and not isinstance(comment, str):
            raise EventFormatError("`comment` must be a string or null")
        return FeedbackEvent(time=fields.time(), request_id=fields.get("request_id", str),
                             helpful=fields.get("helpful", bool), comment=comment,
                             known_request=fields.get("known_request", bool))
    raise EventFormatError(f"unknown event type {kind!r}")


class _Fields:
    """Typed reads of one parsed line, each failing with the field's name."""

    def __init__(self, raw: dict[str, Any]) -> None:
        self.raw = raw

    def get(self, name: str, kind: type) -> Any:
        value = self.raw.get(name)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise EventFormatError(f"`{name}` must be a {kind.__name__}")
        return value

    def number(self, name: str) -> float:
        value = self.raw.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EventFormatError(f"`{name}` must be a number")
        return float(value)

    def time(self) -> str:
        text = self.get("time", str)
        try:
            parse_time(text)
        except ValueError:
            raise EventFormatError(f"`time` is not an ISO 8601 time: {text[:40]!r}") from None
        return text

    def sources(self) -> tuple[SourceRef, ...]:
        items = self.get("sources", list)
        out = []
        for item in items:
            if not isinstance(item, dict):
                raise EventFormatError("`sources` must hold objects")
            one = _Fields(item)
            out.append(SourceRef(one.get("doc_id", str), one.get("kind", str), one.number("score")))
        return tuple(out)


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
