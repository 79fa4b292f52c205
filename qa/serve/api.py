"""JSON API blueprint: request validation only; every answer comes from the loaded QAService."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import BadRequest, UnsupportedMediaType

from qa.errors import QuestionError
from qa.results import Unavailable
from qa.serve.loaded import app_settings, current_service, live_workers, loaded_service, unavailable_reason
from qa.serve.observe import note_answered
from qa.serve.openapi import spec_for
from qa.serve.question_events import record_question
from qa.service import MAX_TOP_K

api = Blueprint("api", __name__, url_prefix="/api")

ASK_FIELDS = ("question", "top_k")
SPEC_EXAMPLE_IDS = 10  # document ids listed as examples in the served OpenAPI description
# An integer, also written with a zero fraction (3.0), as JSON Schema's "integer" allows.
_INTEGER = re.compile(r"[+-]?[0-9]{1,9}(?:\.0*)?")


def error_response(status: int, code: str, message: str) -> tuple[Response, int]:
    return jsonify({"error": {"code": code, "message": message}}), status


@api.post("/ask")
def ask() -> Response:
    service = current_service()
    body = json_object()
    unknown = sorted(set(body) - set(ASK_FIELDS))
    if unknown:
        raise QuestionError(f"unknown field(s) {', '.join(map(repr, unknown))}; "
                            f"the body accepts only {' and '.join(ASK_FIELDS)}")
    if "question" not in body:
        raise QuestionError('missing `question`: send {"question": "...", "top_k": 5}')
    result = service.ask(body["question"], body.get("top_k", 5))
    note_answered(result.answered, result.answerability)
    return jsonify(record_question(result, "api"))


@api.get("/search")
def search() -> Response:
    service = current_service()
    query = request.args.get("q")
    if query is None:
        raise QuestionError("missing query parameter `q`: /api/search?q=...&k=5")
    k = _int_arg("k", 5)
    return jsonify(service.search(query, k, request.args.get("mode", "hybrid")))


@api.get("/health")
def health() -> Response | tuple[Response, int]:
    every = request.args.get("all", "0")
    if every not in ("0", "1"):
        raise QuestionError(f"`all` must be 1 (list every worker) or 0, got {every[:20]!r}")
    service = loaded_service()
    if service is None:
        return jsonify(Unavailable(status="unavailable", reason=unavailable_reason())), 503
    found = service.health()
    return jsonify(dataclasses.replace(found, workers=live_workers()) if every == "1" else found)


@api.get("/documents/<path:doc_id>")
def document(doc_id: str) -> Response:
    return jsonify(dataclasses.asdict(current_service().document(doc_id)))


@api.get("/openapi.json")
def openapi() -> Response:
    service = loaded_service()
    return jsonify(spec_for(app_settings(), service.example_document_ids(SPEC_EXAMPLE_IDS) if service else []))


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


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "an array"}
    return names.get(type(value), type(value).__name__)


def _int_arg(name: str, default: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INTEGER.fullmatch(raw):
        raise QuestionError(f"`{name}` must be an integer from 1 to {MAX_TOP_K}, got {raw[:20]!r}")
    return int(raw.split(".", 1)[0])
