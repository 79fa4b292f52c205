"""Reading events for `qa gaps`: files and directories, the window, bad lines, feedback joined to its question."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qa.errors import QAError
from qa.events.log import file_name
from qa.events.records import FeedbackEvent, QuestionEvent, SourceRef, iso
from qa.gaps.read import event_files, parse_since, read_stream

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


def _question(request_id: str, at: datetime, answered: bool = False) -> str:
    return QuestionEvent(time=iso(at), request_id=request_id, channel="page", question=f"问题{request_id}",
                         answered=answered, answerability=0.5, sources=(SourceRef("d", "passage", 1.0),),
                         build_id="b1", took_ms=10.0).to_json()


def _feedback(request_id: str, at: datetime, helpful: bool, comment: str | None = None) -> str:
    return FeedbackEvent.of(request_id, helpful, comment, True, at).to_json()


def _write(path: Path, *lines: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def test_parse_since() -> None:
    assert parse_since("7d", NOW) == NOW - timedelta(days=7)
    assert parse_since("36h", NOW) == NOW - timedelta(hours=36)
    assert parse_since("2026-03-01", NOW) == datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(QAError, match="7d, 24h or 30m"):
        parse_since("last week", NOW)


def test_files_and_directories_each_read_once(tmp_path: Path) -> None:
    a = _write(tmp_path / "host1" / file_name("h1", 1, "2026-03-10"), _question("a", NOW))
    b = _write(tmp_path / "host2" / "sub" / file_name("h2", 2, "2026-03-10"), _question("b", NOW))
    _write(tmp_path / "host2" / "notes.txt", "not an events file")
    assert event_files([tmp_path, a]) == [a.resolve(), b.resolve()]
    with pytest.raises(QAError, match="does not exist"):
        event_files([tmp_path / "missing"])


def test_the_window_feedback_and_bad_lines(tmp_path: Path) -> None:
    old = NOW - timedelta(days=9)
    _write(tmp_path / file_name("h1", 1, old.date().isoformat()), _question("old", old), "{broken")
    _write(tmp_path / file_name("h1", 1, "2026-03-09"),
           _question("r1", NOW - timedelta(days=1)), _question("r2", NOW - timedelta(days=1), answered=True),
           _question("r3", NOW - timedelta(days=1), answered=True), '{"type": "question"}')
    _write(tmp_path / file_name("h2", 7, "2026-03-10"),
           _feedback("r2", NOW, False, "没说清楚"), _feedback("r2", NOW + timedelta(minutes=1), False, "还是不对"),
           _feedback("r3", NOW, False), _feedback("r3", NOW + timedelta(minutes=1), True),
           _feedback("old", NOW, True), _feedback("never", NOW, False), "", "[]")
    stream = read_stream(event_files([tmp_path]), since=NOW - timedelta(days=7))
    asked = {a.event.request_id: a for a in stream.questions}
    assert sorted(asked) == ["r1", "r2", "r3"]  # the old day's file is not read at all
    assert asked["r2"].helpful is False and asked["r2"].comments == ("没说清楚", "还是不对")
    assert asked["r3"].helpful is True  # the last word counts
    assert [r for r, a in asked.items() if a.gap] == ["r1", "r2"]
    assert (stream.helpful, stream.unhelpful, stream.unmatched_feedback) == (1, 1, 2)
    assert stream.skipped == 2 and "2026-03-09.jsonl:4: `time` must be a string" in stream.skipped_examples[0]
    assert stream.skipped_examples[1].endswith("not a JSON object")
    everything = read_stream(event_files([tmp_path]))
    assert len(everything.questions) == 4 and everything.skipped == 3
