"""The app's event log: each question of the API or the page becomes a question event under the request's id."""

from __future__ import annotations

from dataclasses import fields

from flask import Flask, current_app, g

from qa.config import Settings
from qa.events.log import EventLog
from qa.events.records import Channel, QuestionEvent
from qa.results import AskResponse, AskResult

_EXTENSION = "qa_events"


def attach(app: Flask, settings: Settings) -> None:
    """An EventLog for the settings' events directory (None when QA_EVENTS_DIR=off); fails if it is unwritable."""
    directory = settings.events_path
    app.extensions[_EXTENSION] = EventLog(directory) if directory is not None else None


def event_log() -> EventLog | None:
    log: EventLog | None = current_app.extensions.get(_EXTENSION)
    return log


def record_question(result: AskResult, channel: Channel) -> AskResponse:
    """Keep the question's event (when events are on) and return the result with this request's id."""
    log = event_log()
    if log is not None:
        log.write(QuestionEvent.of(result, g.request_id, channel))
    return AskResponse(**{f.name: getattr(result, f.name) for f in fields(result)}, request_id=g.request_id)
