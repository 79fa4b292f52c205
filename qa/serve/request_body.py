"""A request's JSON body: its size limits and reading it as an object, for every blueprint that takes one."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

MAX_BODY_BYTES = 16 * 1024
# A body over MAX_BODY_BYTES is read and discarded up to this much, so the client (still sending) reads the 413
# instead of a reset connection; past it the connection is closed.
DRAIN_BYTES = 10 * 1024 * 1024
DRAIN_SECONDS = 10.0


def json_object() -> dict[str, Any]:
    """The request's JSON body, which must be an object; a 4xx that says how to fix it otherwise."""
    if not request.is_json:
        got = request.mimetype or "no content type"
        raise UnsupportedMediaType(description=f"send the body as JSON with the header Content-Type: "
                                               f"application/json (got {got})")
    raw = request.get_data(cache=False)  # raises 413 past MAX_CONTENT_LENGTH
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise BadRequest(description=f"malformed JSON body ({exc.msg} at {where}); "
                                     'send an object such as {"question": "...", "top_k": 5}') from None
    except UnicodeDecodeError:
        raise BadRequest(description="the JSON body is not valid UTF-8; encode it as UTF-8") from None
    except ValueError:  # the only other one: an integer longer than Python's 4300-digit limit
        raise BadRequest(description="malformed JSON body: a number has too many digits") from None
    except RecursionError:
        raise BadRequest(description="malformed JSON body: nested too deeply") from None
    if not isinstance(body, dict):
        raise BadRequest(description=f"the JSON body must be an object such as "
                                     f'{{"question": "..."}}, got {_json_type(body)}')
    return body


def drain_body() -> None:
    """Read and discard the rest of the body, up to DRAIN_BYTES and DRAIN_SECONDS (then gunicorn closes)."""
    stream = request.environ.get("wsgi.input")
    if stream is None:
        return
    left, deadline = DRAIN_BYTES, time.monotonic() + DRAIN_SECONDS
    while left > 0 and time.monotonic() < deadline:
        data = stream.read(min(64 * 1024, left))
        if not data:
            return
        left -= len(data)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), type(value).__name__)
