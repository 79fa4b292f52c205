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
    answerability: float | None  # None: the model serves uncalibrated (qa/fitted/)
    sources: tuple[SourceRef, ...]
    build_id: str
    took_ms: float

    @classmethod
    def of(cls, result: AskResult, request_id: str, channel: Channel, time: datetime | None = None
           ) -> QuestionEvent:
        """The event of one ask, its question masked (qa.events.privacy)."""
        return cls(time=iso(time), request_id=request_id, channel=channel, question=mask(result.question),
                   answered=result.answered, answerability=result.answerability,
                   sources=tuple(SourceRef(s.doc_id, s.kind, s.score) for s in result.sources[:TOP_SOURCES]),
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
    kind = raw.get("type")
    if kind == "question":
        _check(raw, _QUESTION_FIELDS)
        if raw["channel"] not in CHANNELS:
            raise EventFormatError(f"`channel` must be one of {', '.join(CHANNELS)}")
        return QuestionEvent(time=_time(raw["time"]), request_id=raw["request_id"], channel=raw["channel"],
                             question=raw["question"], answered=raw["answered"],
                             answerability=_optional_float(raw["answerability"]), sources=_sources(raw["sources"]),
                             build_id=raw["build_id"], took_ms=float(raw["took_ms"]))
    if kind == "feedback":
        _check(raw, _FEEDBACK_FIELDS)
        return FeedbackEvent(time=_time(raw["time"]), request_id=raw["request_id"], helpful=raw["helpful"],
                             comment=raw.get("comment"), known_request=raw["known_request"])
    raise EventFormatError(f"unknown event type {kind!r}")


_NUMBER = (int, float)
_OPTIONAL_NUMBER = (int, float, type(None))
_QUESTION_FIELDS: dict[str, type | tuple[type, ...]] = {
    "time": str, "request_id": str, "channel": str, "question": str, "answered": bool,
    "answerability": _OPTIONAL_NUMBER,
    "sources": list, "build_id": str, "took_ms": _NUMBER}
_FEEDBACK_FIELDS: dict[str, type | tuple[type, ...]] = {
    "time": str, "request_id": str, "helpful": bool, "comment": (str, type(None)), "known_request": bool}
_SOURCE_FIELDS: dict[str, type | tuple[type, ...]] = {"doc_id": str, "kind": str, "score": _NUMBER}
_TYPE_NAMES = {str: "a string", bool: "true or false", list: "an array", _NUMBER: "a number",
               _OPTIONAL_NUMBER: "a number or null",
               (str, type(None)): "a string or null"}


def _check(raw: dict[str, Any], fields: dict[str, type | tuple[type, ...]]) -> None:
    for name, kind in fields.items():
        value = raw.get(name)
        # bool is an int: a number field must not take true/false, nor a bool field 0/1
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise EventFormatError(f"`{name}` must be {_TYPE_NAMES[kind]}")


def _optional_float(value: int | float | None) -> float | None:
    return None if value is None else float(value)


def _time(text: str) -> str:
    try:
        parse_time(text)
    except ValueError:
        raise EventFormatError(f"`time` is not an ISO 8601 time: {text[:40]!r}") from None
    return text


def _sources(items: list[Any]) -> tuple[SourceRef, ...]:
    out = []
    for item in items:
        if not isinstance(item, dict):
            raise EventFormatError("`sources` must hold objects")
        _check(item, _SOURCE_FIELDS)
        out.append(SourceRef(item["doc_id"], item["kind"], float(item["score"])))
    return tuple(out)


def _dumps(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
