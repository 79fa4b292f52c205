"""Per-request bookkeeping: a request id (kept from the client or made), metrics, fields for the access log."""

from __future__ import annotations

import time
import uuid

from flask import Flask, Response, g, request

from qa.live import forget_lease, leased_build
from qa.requests import REQUEST_ID
from qa.serve.logs import ENV_ANSWERABILITY, ENV_ANSWERED, ENV_BUILD, ENV_ERROR, ENV_REQUEST_ID
from qa.serve.metrics import IN_FLIGHT, record_request

REQUEST_ID_HEADER = "X-Request-ID"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def install(app: Flask) -> None:
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_done)


def note_answered(answered: bool, answerability: float | None) -> None:
    """Called by the routes that ask: counted as answered or abstained and written to the access log."""
    g.answered = answered
    g.answerability = answerability
    request.environ[ENV_ANSWERED] = answered
    request.environ[ENV_ANSWERABILITY] = answerability


def note_error(code: str) -> None:
    """The error code of the error response being sent (`bad_request` …), for the access log."""
    request.environ[ENV_ERROR] = code


def _start() -> None:
    g.started = time.perf_counter()
    given = request.headers.get(REQUEST_ID_HEADER, "")
    g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    request.environ[ENV_REQUEST_ID] = g.request_id
    forget_lease()  # this thread's previous request leased a build; this one has not yet
    IN_FLIGHT.inc()
    g.in_flight = True


def _finish(response: Response) -> Response:
    if "request_id" not in g:  # an error raised before before_request ran (routing is done by then)
        _start()
    response.headers[REQUEST_ID_HEADER] = g.request_id
    request.environ[ENV_BUILD] = leased_build()
    # the route pattern, not the path: bounded label values whatever clients send
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    method = request.method if request.method in _METHODS else "other"
    record_request(endpoint, method, response.status_code, time.perf_counter() - g.started,
                   g.get("answered"), g.get("answerability"))
    return response


def _done(_: BaseException | None) -> None:
    if g.pop("in_flight", False):
        IN_FLIGHT.dec()
