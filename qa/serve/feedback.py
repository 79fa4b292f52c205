"""Feedback on an answer: `POST /api/feedback` (JSON) and `POST /feedback` (the page's form without JavaScript)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import ServiceUnavailable

from qa.errors import QuestionError
from qa.events.records import FeedbackEvent
from qa.requests import FeedbackRequest, read_body
from qa.results import FeedbackResult
from qa.serve.loaded import app_settings
from qa.serve.question_events import event_log
from qa.serve.request_body import json_object

feedback = Blueprint("feedback", __name__)

_FORM_ANSWERS = {"yes": True, "no": False}


@feedback.post("/api/feedback")
def api_feedback() -> Response:
    return jsonify(keep(read_body(FeedbackRequest, json_object(), app_settings())))


@feedback.post("/feedback")
def form() -> str:
    helpful = _FORM_ANSWERS.get(request.form.get("helpful", ""))
    if helpful is None:
        raise QuestionError("请点“有帮助”或“没帮助”按钮提交反馈。")
    fields = {"request_id": request.form.get("request_id"), "helpful": helpful, "comment": request.form.get("comment")}
    given = {name: value for name, value in fields.items() if value is not None}
    return render_template("feedback.html", kept=keep(read_body(FeedbackRequest, given, app_settings())))


def keep(asked: FeedbackRequest) -> FeedbackResult:
    """Append the feedback event; 503 when events are off or the disk refuses it."""
    log = event_log()
    if log is None:
        raise ServiceUnavailable(description="feedback is not kept: this server runs with QA_EVENTS_DIR=off")
    event = FeedbackEvent.of(asked.request_id, asked.helpful, asked.comment,
                             known_request=log.knows(asked.request_id))
    if not log.write(event):
        raise ServiceUnavailable(description="the feedback could not be written (the events directory refused "
                                             "it; the server log says why); try again later")
    return FeedbackResult(request_id=asked.request_id, helpful=asked.helpful, known_request=event.known_request)
