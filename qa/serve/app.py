"""Flask application factory: loads the QA service once, registers the API and pages, maps every error."""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, render_template, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound, RequestEntityTooLarge

from qa.config import Settings
from qa.errors import DocumentNotFoundError, QAError, QuestionError
from qa.serve import loaded, observe, question_events
from qa.serve.api import api
from qa.serve.error_codes import error_code, error_response
from qa.serve.feedback import feedback
from qa.serve.jsonio import OrjsonProvider
from qa.serve.metrics import metrics
from qa.serve.request_body import MAX_BODY_BYTES, drain_body
from qa.serve.web import web
from qa.service import QAService

# Everything is served from this origin; inline scripts and external loads are refused outright.
CSP = ("default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
PAGE_TITLES = {400: "请求有误", 404: "没有找到这个页面", 405: "不支持这种请求", 413: "请求内容太大",
               414: "网址太长", 500: "服务出错了", 503: "服务暂不可用"}

logger = logging.getLogger(__name__)


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Config: QA_SERVICE (a loaded QAService), else QA_INDEX_DIR / QA_MODEL to load one; failing, 503s."""
    # templates/ and static/ are package data beside this module, so an installed wheel serves the page too.
    app = Flask(__name__, template_folder="templates", static_folder="static")
    app.config.update(MAX_CONTENT_LENGTH=MAX_BODY_BYTES)
    app.config.update(test_config or {})
    app.json = OrjsonProvider(app)
    _attach_service(app)
    app.register_blueprint(api)
    app.register_blueprint(web)
    app.register_blueprint(metrics)
    app.register_blueprint(feedback)
    observe.install(app)
    _register_error_handlers(app)
    app.after_request(_security_headers)
    return app


def _attach_service(app: Flask) -> None:
    """The given service, or one loaded from the settings; a missing or unusable index leaves the app up with
    503s that say how to build one. Invalid settings raise: they are fixed before serving, not served around."""
    service: QAService | None = app.config.get("QA_SERVICE")
    error: str | None = None
    if service is not None:
        settings = service.settings
    else:
        settings = Settings.load(index_dir=app.config.get("QA_INDEX_DIR"), model=app.config.get("QA_MODEL"))
        try:
            service = QAService.load(settings)
        except QAError as exc:
            logger.error("serving without an index: %s", exc)
            error = str(exc)
    loaded.attach(app, settings, service, error)
    question_events.attach(app, settings)


def _register_error_handlers(app: Flask) -> None:
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(QAError, _qa_error)
    app.register_error_handler(Exception, _unexpected_error)


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if isinstance(exc, RequestEntityTooLarge):
        drain_body()
    response = _error(status, _message(exc))
    if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
        response[0].headers["Allow"] = ", ".join(exc.valid_methods)
    return response


def _qa_error(exc: QAError) -> tuple[Response | str, int]:
    if isinstance(exc, QuestionError):
        return _error(400, str(exc))
    if isinstance(exc, DocumentNotFoundError):
        if _is_api():
            return _error(404, str(exc))
        doc_id = (request.view_args or {}).get("doc_id", "")
        return _error(404, f"没有这篇文章（{doc_id}）：它可能在更新索引时被移除了。回到首页重新提问。")
    return _error(503, str(exc))


def _unexpected_error(exc: Exception) -> tuple[Response | str, int]:
    logger.exception("unhandled error on %s %s", request.method, request.path)
    return _error(500, "unexpected server error; it has been logged")


def _is_api() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def _error(status: int, message: str) -> Any:
    code = error_code(status)
    observe.note_error(code)
    if _is_api():
        return error_response(status, code, message)
    title = PAGE_TITLES.get(status, "出错了")
    return render_template("error.html", status=status, title=title, message=message), status


def _message(exc: HTTPException) -> str:
    if isinstance(exc, NotFound) and request.url_rule is None:
        if not _is_api():
            return "这个地址没有页面；回到首页重新提问。"
        return f"no such endpoint: {request.method} {request.path}; the API is described at /api/openapi.json"
    if isinstance(exc, MethodNotAllowed):
        allowed = ", ".join(m for m in exc.valid_methods or () if m not in ("HEAD", "OPTIONS"))
        return f"{request.method} is not allowed on {request.path}; use {allowed}"
    if isinstance(exc, RequestEntityTooLarge):
        return f"the request body is larger than {MAX_BODY_BYTES} bytes; send a shorter question"
    return exc.description or exc.name


def _security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response
