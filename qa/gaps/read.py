"""Read events files (any number, from any host) into questions joined with their feedback."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qa.errors import QAError
from qa.events.log import FILE_GLOB, FILE_NAME
from qa.events.records import EventFormatError, FeedbackEvent, QuestionEvent, parse, parse_time

SKIPPED_SHOWN = 5  # malformed lines named in the report; the rest are counted
_SINCE = re.compile(r"(\d+)\s*([dhm])")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


@dataclass(frozen=True)
class Asked:
    """A question event with what people said about its answer (the last feedback decides `helpful`)."""

    event: QuestionEvent
    at: datetime
    helpful: bool | None
    comments: tuple[str, ...]

    @property
    def unhelpful(self) -> bool:
        """Answered, and marked unhelpful."""
        return self.event.answered and self.helpful is False

    @property
    def gap(self) -> bool:
        """A need the corpus did not meet: abstained, or answered and marked unhelpful."""
        return not self.event.answered or self.helpful is False


@dataclass
class Stream:
    """What the files hold within the window."""

    files: list[Path]
    questions: list[Asked] = field(default_factory=list)
    unmatched_feedback: int = 0  # feedback of the window whose request id has no question in these files
    lines: int = 0
    skipped: int = 0
    skipped_examples: list[str] = field(default_factory=list)

    @property
    def helpful(self) -> int:
        """Questions whose (last) feedback says the answer helped."""
        return sum(1 for a in self.questions if a.helpful is True)

    @property
    def unhelpful(self) -> int:
        return sum(1 for a in self.questions if a.helpful is False)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """`7d`, `24h`, `30m` before now, or an ISO date/time (UTC unless it says otherwise)."""
    now = now or datetime.now(UTC)
    match = _SINCE.fullmatch(text.strip())
    if match:
        return now - timedelta(**{_UNITS[match[2]]: int(match[1])})
    try:
        return parse_time(text.strip())
    except ValueError:
        raise QAError(f"--since {text!r}: give a span such as 7d, 24h or 30m, or a date such as 2026-03-01") from None


def event_files(paths: Iterable[Path]) -> list[Path]:
    """The files named, and every events-*.jsonl under the directories named (recursively), each once."""
    found: dict[Path, None] = {}
    for path in paths:
        if path.is_dir():
            found.update((p.resolve(), None) for p in sorted(path.rglob(FILE_GLOB)))
        elif path.is_file():
            found[path.resolve()] = None
        else:
            raise QAError(f"{path} does not exist; name events files or directories holding events-*.jsonl "
                          "(by default the server writes them to events/ beside the index directory, "
                          "QA_EVENTS_DIR)")
    return list(found)


def read_stream(files: list[Path], since: datetime | None = None) -> Stream:
    """Questions asked since `since` with their feedback; a line that is no event is counted and named."""
    stream = Stream(files)
    questions: dict[str, Asked] = {}
    feedback: list[FeedbackEvent] = []
    for event in _events(stream, files, since):
        if isinstance(event, QuestionEvent):
            at = parse_time(event.time)
            if since is None or at >= since:
                # a client may reuse its own request id: feedback goes to the latest question under it
                questions[event.request_id] = Asked(event, at, None, ())
        else:
            feedback.append(event)
    _join(stream, questions, sorted(feedback, key=lambda f: f.time), since)
    stream.questions = sorted(questions.values(), key=lambda a: a.at)
    return stream


def _events(stream: Stream, files: list[Path], since: datetime | None
            ) -> Iterator[QuestionEvent | FeedbackEvent]:
    for path in files:
        if since is not None and _day_before(path, since):
            continue
        with path.open(encoding="utf-8", errors="replace") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                stream.lines += 1
                try:
                    yield parse(line)
                except EventFormatError as exc:
                    stream.skipped += 1
                    if len(stream.skipped_examples) < SKIPPED_SHOWN:
                        stream.skipped_examples.append(f"{path}:{number}: {exc}")


def _day_before(path: Path, since: datetime) -> bool:
    """A file named by the server for a UTC day before the window holds nothing of it."""
    match = FILE_NAME.fullmatch(path.name)
    return match is not None and match["date"] < since.astimezone(UTC).date().isoformat()


def _join(stream: Stream, questions: dict[str, Asked], feedback: list[FeedbackEvent],
          since: datetime | None) -> None:
    for item in feedback:
        asked = questions.get(item.request_id)
        if asked is None:
            if since is None or parse_time(item.time) >= since:
                stream.unmatched_feedback += 1
            continue
        comments = (*asked.comments, item.comment) if item.comment else asked.comments
        questions[item.request_id] = Asked(asked.event, asked.at, item.helpful, comments)
