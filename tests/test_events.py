"""Events: privacy masking, the line format both ways, one file per process and UTC day, request ids looked up."""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from qa.errors import QAError
from qa.events.log import FILE_NAME, EventLog, file_name
from qa.events.privacy import DIGITS_MASK, EMAIL_MASK, mask
from qa.events.records import EventFormatError, FeedbackEvent, QuestionEvent, SourceRef, parse
from qa.service import QAService

DAY = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)


@pytest.mark.parametrize(("text", "expected"), [
    ("卡号6222021234567890123被冻结", f"卡号{DIGITS_MASK}被冻结"),
    ("手机 138-1234-5678 收不到验证码", f"手机 {DIGITS_MASK} 收不到验证码"),
    ("卡 6222 0212 3456 7890 扣款两次", f"卡 {DIGITS_MASK} 扣款两次"),
    ("身份证11010519491231002X怎么绑定", f"身份证{DIGITS_MASK}怎么绑定"),
    ("全角１３８１２３４５６７８也算", f"全角{DIGITS_MASK}也算"),
    ("发到我邮箱zhang.san+qa@mail.example.com谢谢", f"发到我邮箱{EMAIL_MASK}谢谢"),
    ("邮箱 li_si@qq.com 和电话 13812345678", f"邮箱 {EMAIL_MASK} 和电话 {DIGITS_MASK}"),
    ("编号12345678@example.org", f"编号{EMAIL_MASK}"),
])
def test_mask_hides_digit_runs_and_addresses(text: str, expected: str) -> None:
    assert mask(text) == expected


@pytest.mark.parametrize("text", ["转账限额是50000元吗", "2024年3月1日付款失败", "验证码12345没收到", "5G 信号", "a@b"])
def test_mask_keeps_short_numbers_and_plain_text(text: str) -> None:
    assert mask(text) == text


def _question(request_id: str = "r1", question: str = "数字钱包能买基金吗", time: datetime = DAY) -> QuestionEvent:
    return QuestionEvent(time=time.isoformat().replace("+00:00", "Z"), request_id=request_id, channel="api",
                         question=question, answered=False, answerability=0.12,
                         sources=(SourceRef("icbc-wallet/intro", "passage", 1.2),), build_id="b1", took_ms=12.5)


def test_events_survive_a_round_trip(service: QAService) -> None:
    result = service.ask("我的卡号6222021234567890123能开数字钱包吗，邮箱a@qq.com")
    event = QuestionEvent.of(result, "abc", "page")
    assert "6222021234567890123" not in event.to_json() and "a@qq.com" not in event.to_json()
    assert parse(event.to_json()) == event
    assert event.build_id == result.build_id and len(event.sources) == min(3, len(result.sources))
    feedback = FeedbackEvent.of("abc", False, "没说手机号13812345678怎么改", known_request=True)
    assert parse(feedback.to_json()) == feedback and feedback.comment == f"没说手机号{DIGITS_MASK}怎么改"


@pytest.mark.parametrize(("line", "says"), [
    ("not json", "not JSON"),
    ("[1]", "not a JSON object"),
    ('{"type": "other"}', "unknown event type"),
    ('{"type": "feedback", "time": "yesterday", "request_id": "r", "helpful": true, "known_request": true}',
     "`time`"),
    ('{"type": "feedback", "time": "2026-03-01T00:00:00Z", "request_id": "r", "helpful": 1, '
     '"known_request": true}', "`helpful` must be true or false"),
])
def test_a_bad_line_says_what_is_wrong(line: str, says: str) -> None:
    with pytest.raises(EventFormatError, match=says):
        parse(line)


def test_each_day_gets_its_own_file(tmp_path: Path) -> None:
    log = EventLog(tmp_path, host="h1")
    for i, time in enumerate([DAY - timedelta(hours=1), DAY, DAY + timedelta(seconds=1)]):
        assert log.write(_question(f"r{i}", time=time))
    log.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [file_name("h1", os.getpid(), "2026-03-01"), file_name("h1", os.getpid(), "2026-03-02")]
    first = (tmp_path / names[0]).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["request_id"] for line in first] == ["r0", "r1"]
    assert FILE_NAME.fullmatch(names[0])


def test_threads_append_whole_lines(tmp_path: Path) -> None:
    log = EventLog(tmp_path, host="h1")
    long_question = "问" * 500

    def write(prefix: str) -> None:
        for i in range(200):
            log.write(_question(f"{prefix}{i}", long_question))

    threads = [threading.Thread(target=write, args=(p,)) for p in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = next(tmp_path.iterdir()).read_text(encoding="utf-8").splitlines()
    assert len(lines) == 800 and all(parse(line).question == long_question for line in lines)


def test_a_forked_process_writes_its_own_file(tmp_path: Path) -> None:
    log = EventLog(tmp_path, host="h1")
    log.write(_question("parent"))
    pid = os.fork()
    if pid == 0:  # the child: write, then leave without running pytest's teardown
        code = 0 if log.write(_question("child")) else 1
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    log.write(_question("parent-again"))
    files = {p.name: [json.loads(x)["request_id"] for x in p.read_text().splitlines()] for p in tmp_path.iterdir()}
    assert files == {file_name("h1", os.getpid(), "2026-03-01"): ["parent", "parent-again"],
                     file_name("h1", pid, "2026-03-01"): ["child"]}


def test_knows_finds_questions_of_other_processes_today_and_yesterday(tmp_path: Path) -> None:
    other = tmp_path / file_name("h2", 4242, "2026-03-01")
    other.write_text(_question("theirs").to_json() + "\n" +
                     FeedbackEvent.of("feedback-only", True, None, False).to_json() + "\n", encoding="utf-8")
    log = EventLog(tmp_path, host="h1")
    log.write(_question("mine", time=DAY - timedelta(days=3)))
    today = DAY + timedelta(hours=2)
    assert log.knows("mine", today)  # this process's own, from memory
    assert log.knows("theirs", today)  # yesterday's file of another process
    assert not log.knows("theirs", today + timedelta(days=2))  # too old to look up
    assert not log.knows("feedback-only", today)  # a feedback line does not make a question known
    assert not log.knows("their", today)  # a prefix of a known id is not that id


def test_an_unwritable_directory_fails_with_the_fix(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(QAError, match="QA_EVENTS_DIR=off"):
        EventLog(blocker / "events")
