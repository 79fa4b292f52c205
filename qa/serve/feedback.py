"""Feedback on an answer: `POST /api/feedback` (JSON) and `POST /feedback` (the page's form without JavaScript)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request
from werkzeug.exceptions import ServiceUnavailable

from qa.errors import QuestionError
from qa.events.records import MAX_COMMENT_CHARS, FeedbackEvent
from qa.results import FeedbackResult
from qa.serve.api import json_object
from qa.serve.observe import CLIENT_REQUEST_ID
from qa.serve.question_events import event_log

feedback = Blueprint("feedback", __name__)

FEEDBACK_FIELDS = ("request_id", "helpful", "comment")
_FORM_ANSWERS = {"yes": True, "no": False}


@feedback.post("/api/feedback")
def api_feedback() -> Response:
    body = json_object()
    unknown = sorted(set(body) - set(FEEDBACK_FIELDS))
    if unknown:
        raise QuestionError(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                            f"the body accepts only {', '.join(FEEDBACK_FIELDS)}")
    if "helpful" not in body or not isinstance(body["helpful"], bool):
        raise QuestionError('`helpful` must be true or false: send {"request_id": "...", "helpful": false}')
    return jsonify(keep(body.get("request_id"), body["helpful"], body.get("comment")))


@feedback.post("/feedback")
def form() -> str:
    helpful = _FORM_ANSWERS.get(request.form.get("helpful", ""))
    if helpful is None:
        raise QuestionError("请点“有帮助”或“没帮助”按钮提交反馈。")
    kept = keep(request.form.get("request_id"), helpful, request.form.get("comment"))
    return render_template("feedback.html", kept=kept)


def keep(request_id: Any, helpful: bool, comment: Any) -> FeedbackResult:
    """Validate, then append the feedback event; 503 when events are off or the disk refuses it."""
    if request_id is None:
        raise QuestionError("missing `request_id`: send the request id of the answer (the `request_id` of the "
                            "/api/ask response, or its X-Request-ID header)")
    if not isinstance(request_id, str) or not CLIENT_REQUEST_ID.fullmatch(request_id):
        raise QuestionError("`request_id` must be an answer's request id: 1 to 64 letters, digits or . _ : -")
    text = _comment(comment)
    log = event_log()
    if log is None:
        raise ServiceUnavailable(description="feedback is not kept: this server runs with QA_EVENTS_DIR=off")
    event = FeedbackEvent.of(request_id, helpful, text, known_request=log.knows(request_id))
    if not log.write(event):
        raise ServiceUnavailable(description="the feedback could not be written (the events directory refused "
                                             "it; the server log says why); try again later")
    return FeedbackResult(request_id=request_id, helpful=helpful, known_request=event.known_request)


def _comment(comment: Any) -> str | None:
    if comment is None:
        return None
    if not isinstance(comment, str):
        raise QuestionError("`comment` must be a string (or left out)")
    if len(comment) > MAX_COMMENT_CHARS:
        raise QuestionError(f"`comment` has {len(comment)} characters; the limit is {MAX_COMMENT_CHARS}")
    try:
        comment.encode("utf-8")
    except UnicodeEncodeError:
        raise QuestionError("`comment` holds an unpaired surrogate (\\ud800-\\udfff); send valid Unicode") from None
    return comment.strip() or None
