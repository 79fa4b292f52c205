"""Per-request bookkeeping: a request id (kept from the client or made), metrics, fields for the access log."""

from __future__ import annotations

import re
import time
import uuid

from flask import Flask, Response, g, request

from qa.serve.logs import ENV_ANSWERED, ENV_REQUEST_ID
from qa.serve.metrics import record_request

REQUEST_ID_HEADER = "X-Request-ID"
# A client's own id is kept when it is short and plain (it ends up in logs and a response header).
CLIENT_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)


def note_answered(answered: bool) -> None:
    """Called by the routes that ask: counted as answered or abstained and written to the access log."""
    g.answered = answered
    request.environ[ENV_ANSWERED] = answered


def _start() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if CLIENT_REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    request.environ[ENV_REQUEST_ID] = g.request_id


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # an error raised before before_request ran (routing is done by then)
        _start()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    # the route pattern, not the path: bounded label values whatever clients send
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    record_request(endpoint, method, response.status_code, time.perf_counter() - g.started,
                   g.get("answered"))
    return response
