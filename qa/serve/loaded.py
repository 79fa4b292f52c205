"""The QAService an app serves (or why none is loaded) and its Settings, kept in the Flask app for its blueprints."""

from __future__ import annotations

from pathlib import Path

from flask import Flask, current_app
from werkzeug.exceptions import ServiceUnavailable

from qa.config import Settings
from qa.results import WorkerHealth
from qa.serve import worker_status
from qa.service import QAService

_SERVICE = "qa"
_ERROR = "qa_error"
_SETTINGS = "qa_settings"
# app config: the directory where every worker of `qa serve` records its build (qa.serve.worker_status)
WORKERS_DIR = "QA_WORKERS_DIR"


def attach(app: Flask, settings: Settings, service: QAService | None, error: str | None) -> None:
    app.extensions[_SETTINGS] = settings
    app.extensions[_SERVICE] = service
    app.extensions[_ERROR] = error


def app_settings() -> Settings:
    """What the app was configured with (the question limit, the backend), loaded service or not."""
    settings: Settings = current_app.extensions[_SETTINGS]
    return settings


def loaded_service() -> QAService | None:
    """The app's service, or None when loading it failed (the pages and the API then answer 503)."""
    service: QAService | None = current_app.extensions.get(_SERVICE)
    return service


def current_service() -> QAService:
    """The loaded service, or a 503 whose message is the reason loading failed."""
    service = loaded_service()
    if service is None:
        raise ServiceUnavailable(description=unavailable_reason())
    return service


def unavailable_reason() -> str:
    return current_app.extensions.get(_ERROR) or "the QA service is not loaded"


def live_workers() -> list[WorkerHealth]:
    """Every live worker of this server under `qa serve`, else this process alone; none without a service."""
    service = loaded_service()
    if service is None:
        return []
    directory = current_app.config.get(WORKERS_DIR)
    return worker_status.live_workers(Path(directory)) if directory else [worker_status.state_of(service.live)]
