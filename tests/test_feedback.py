"""Question events and feedback through the real app (Flask client): the API, the page's form, events off."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from qa.events.records import FeedbackEvent, QuestionEvent, parse
from qa.serve.app import create_app
from qa.service import QAService

UNANSWERABLE = "我的卡号6222021234567890123能用数字钱包买基金吗？"
ANSWERABLE = "付款失败但钱被扣了两次怎么办？"


def _app(service: QAService, events: str) -> Flask:
    settings = dataclasses.replace(service.settings, events_dir=events)
    return create_app({"TESTING": True, "QA_SERVICE": QAService(service.live, settings)})


@pytest.fixture
def events_dir(tmp_path: Path) -> Path:
    return tmp_path / "events"


@pytest.fixture
def client(service: QAService, events_dir: Path) -> FlaskClient:
    return _app(service, str(events_dir)).test_client()


def _events(directory: Path) -> list[Any]:
    return [parse(line) for path in sorted(directory.glob("events-*.jsonl"))
            for line in path.read_text(encoding="utf-8").splitlines()]


def test_an_api_question_is_kept_masked_under_its_request_id(client: FlaskClient, events_dir: Path) -> None:
    response = client.post("/api/ask", json={"question": UNANSWERABLE})
    body = response.get_json()
    assert body["request_id"] == response.headers["X-Request-ID"]
    [event] = _events(events_dir)
    assert isinstance(event, QuestionEvent)
    assert (event.request_id, event.channel, event.answered, event.build_id) == (
        body["request_id"], "api", body["answered"], body["build_id"])
    assert event.question == "我的卡号######能用数字钱包买基金吗？"
    assert [s.doc_id for s in event.sources] == [s["doc_id"] for s in body["sources"][:3]]
    assert "6222021234567890123" not in next(events_dir.iterdir()).read_text(encoding="utf-8")


def test_feedback_is_kept_and_an_unknown_request_marked(client: FlaskClient, events_dir: Path) -> None:
    asked = client.post("/api/ask", json={"question": ANSWERABLE}).get_json()
    known = client.post("/api/feedback", json={"request_id": asked["request_id"], "helpful": False,
                                               "comment": "  没说退款要几天，电话 138-1234-5678  "})
    assert known.status_code == 200
    assert known.get_json() == {"request_id": asked["request_id"], "helpful": False, "known_request": True}
    unknown = client.post("/api/feedback", json={"request_id": "never-asked", "helpful": True, "comment": None})
    assert unknown.get_json()["known_request"] is False
    feedback = [e for e in _events(events_dir) if isinstance(e, FeedbackEvent)]
    assert [(e.request_id, e.helpful, e.comment, e.known_request) for e in feedback] == [
        (asked["request_id"], False, "没说退款要几天，电话 ######", True), ("never-asked", True, None, False)]


@pytest.mark.parametrize(("body", "says"), [
    ({"helpful": True}, "missing `request_id`"),
    ({"request_id": "r1"}, "`helpful` must be true or false"),
    ({"request_id": "r1", "helpful": "yes"}, "`helpful` must be true or false"),
    ({"request_id": "r1", "helpful": 1}, "`helpful` must be true or false"),
    ({"request_id": "has space", "helpful": True}, "`request_id` must be"),
    ({"request_id": "r" * 65, "helpful": True}, "`request_id` must be"),
    ({"request_id": 7, "helpful": True}, "`request_id` must be"),
    ({"request_id": "r1", "helpful": True, "comment": "好" * 501}, "the limit is 500"),
    ({"request_id": "r1", "helpful": True, "comment": ["x"]}, "`comment` must be a string"),
    ({"request_id": "r1", "helpful": True, "rating": 5}, "unknown field"),
    ([], "must be an object"),
])
def test_bad_feedback_gets_a_400_that_says_why(client: FlaskClient, events_dir: Path, body: Any,
                                               says: str) -> None:
    response = client.post("/api/feedback", data=json.dumps(body), content_type="application/json")
    assert response.status_code == 400
    error = response.get_json()["error"]
    assert error["code"] == "bad_request" and says in error["message"]
    assert not _events(events_dir)


def test_a_comment_of_500_characters_is_kept(client: FlaskClient) -> None:
    response = client.post("/api/feedback", json={"request_id": "r1", "helpful": False, "comment": "好" * 500})
    assert response.status_code == 200


def test_feedback_needs_json(client: FlaskClient) -> None:
    response = client.post("/api/feedback", data="request_id=r1&helpful=true")
    assert response.status_code == 415 and response.get_json()["error"]["code"] == "unsupported_media_type"


def test_the_page_asks_for_feedback_and_its_form_keeps_it(client: FlaskClient, events_dir: Path) -> None:
    page = client.get("/", query_string={"q": UNANSWERABLE})
    html = page.get_data(as_text=True)
    [request_id] = re.findall(r'name="request_id" value="([0-9a-f]+)"', html)
    assert request_id == page.headers["X-Request-ID"]
    assert "有帮助" in html and "没帮助" in html
    thanks = client.post("/feedback", data={"request_id": request_id, "helpful": "no", "comment": "想知道能不能买基金"})
    assert thanks.status_code == 200 and "谢谢" in thanks.get_data(as_text=True)
    question, feedback = _events(events_dir)
    assert isinstance(question, QuestionEvent) and question.channel == "page"
    assert isinstance(feedback, FeedbackEvent)
    assert (feedback.request_id, feedback.helpful, feedback.known_request) == (request_id, False, True)
    assert client.post("/feedback", data={"request_id": request_id}).status_code == 400


def test_events_off_keeps_nothing_and_shows_no_buttons(service: QAService, tmp_path: Path) -> None:
    client = _app(service, "off").test_client()
    html = client.get("/", query_string={"q": ANSWERABLE}).get_data(as_text=True)
    assert 'class="feedback"' not in html and 'data-feedback="on"' not in html
    assert client.post("/api/ask", json={"question": ANSWERABLE}).status_code == 200
    response = client.post("/api/feedback", json={"request_id": "r1", "helpful": True})
    assert response.status_code == 503 and "QA_EVENTS_DIR=off" in response.get_json()["error"]["message"]
    assert not list(tmp_path.rglob("events-*.jsonl"))
