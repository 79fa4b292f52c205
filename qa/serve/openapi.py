"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json."""

from __future__ import annotations

from typing import Any

from qa.config import MAX_REQUEST_LINE, Settings
from qa.corpus import Document
from qa.requests import AskRequest, FeedbackRequest, HealthParams, SearchParams, body_schema, query_parameters
from qa.results import AskResponse, FeedbackResult, Health, SearchResult, Unavailable
from qa.serve.error_codes import ERROR_CODES
from qa.serve.request_body import DRAIN_BYTES, MAX_BODY_BYTES
from qa.serve.result_schema import ref as _ref
from qa.serve.result_schema import schemas_of

_BODY_LIMIT = f"{MAX_BODY_BYTES // 1024} KiB"


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


def _too_long(what: str) -> dict[str, Any]:
    """gunicorn answers a request line over its limit itself, before the app, with its own HTML page."""
    return {"description": f"The request line is longer than {MAX_REQUEST_LINE} bytes{what}: gunicorn answers "
                           "with its own HTML page, before the request reaches the app.",
            "content": {"text/html": {"schema": {"type": "string"}}}}


def _schemas(settings: Settings) -> dict[str, Any]:
    return {
        "AskRequest": body_schema(AskRequest, settings),
        "FeedbackRequest": body_schema(FeedbackRequest, settings),
        **schemas_of({"AskResponse": AskResponse, "SearchResponse": SearchResult, "Health": Health,
                      "Unavailable": Unavailable, "Document": Document, "FeedbackResponse": FeedbackResult}),
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message"],
                    "properties": {
                        "code": {"type": "string", "enum": list(ERROR_CODES.values())},
                        "message": {"type": "string", "description": "What went wrong and how to fix it."},
                    },
                },
            },
        },
    }


_UNAVAILABLE = _error("No usable index is loaded; the message says how to build one.")

def spec_for(settings: Settings, doc_ids: list[str]) -> dict[str, Any]:
    """The API description for these settings (the question limit), with some of the loaded index's document
    ids as examples of /api/documents/{doc_id}."""
    spec = _spec(settings)
    if doc_ids:
        parameter = spec["paths"]["/api/documents/{doc_id}"]["get"]["parameters"][0]
        parameter["examples"] = {f"doc{n}": {"value": doc_id} for n, doc_id in enumerate(doc_ids, start=1)}
    return spec


def _spec(settings: Settings) -> dict[str, Any]:
    return {
    "openapi": "3.1.0",
    "info": {
        "title": "qa: question answering over Chinese articles",
        "version": "0.1.0",
        "description": "Answers are extracted sentences from the corpus, each cited with a [n] marker.",
    },
    "paths": {
        "/api/ask": {
            "post": {
                "summary": "Answer a question with cited sentences from the corpus",
                "operationId": "ask",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("AskRequest")}}},
                "responses": {
                    "200": {**_json(_ref("AskResponse"), "The answer and its numbered sources."),
                            "links": {"SourceDocument": {
                                "operationId": "document",
                                "parameters": {"doc_id": "$response.body#/sources/0/doc_id"},
                                "description": "The whole document of the first source."}}},
                    "400": _error("Invalid question or top_k, malformed JSON, or a body that is no object."),
                    "405": _error("Only POST is allowed."),
                    "413": _error(f"The body is larger than {_BODY_LIMIT} (a body up to {DRAIN_BYTES // 2**20} MiB "
                                  "is read and discarded first, so the client reads this answer; past that the "
                                  "connection closes)."),
                    "415": _error("The body is not sent as application/json."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/feedback": {
            "post": {
                "summary": "Say whether an answer helped (kept for the operator's `qa gaps` report)",
                "operationId": "feedback",
                "requestBody": {"required": True,
                                "content": {"application/json": {"schema": _ref("FeedbackRequest")}}},
                "responses": {
                    "200": _json(_ref("FeedbackResponse"), "The feedback is kept."),
                    "400": _error("Missing or invalid request_id, helpful or comment, an unknown field, "
                                  "malformed JSON, or a body that is no object."),
                    "405": _error("Only POST is allowed."),
                    "413": _error(f"The body is larger than {_BODY_LIMIT}."),
                    "415": _error("The body is not sent as application/json."),
                    "503": _error("Feedback is not kept: the server runs with QA_EVENTS_DIR=off, or the events "
                                  "directory refused the write."),
                },
            },
        },
        "/api/search": {
            "get": {
                "summary": "Rank passages for a query without composing an answer",
                "operationId": "search",
                "parameters": query_parameters(SearchParams, settings),
                "responses": {
                    "200": _json(_ref("SearchResponse"), "Ranked passages, numbered from 1."),
                    "400": _error("Invalid parameter (empty or too long question, wrong type, out of range)."),
                    "414": _too_long(" (a question far over the limit)"),
                    "405": _error("Only GET is allowed."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/health": {
            "get": {
                "summary": "Whether an index is loaded, and which",
                "operationId": "health",
                "parameters": query_parameters(HealthParams, settings),
                "responses": {
                    "200": _json(_ref("Health"), "The index is loaded."),
                    "400": _error("`all` is neither 0 nor 1."),
                    "503": _json(_ref("Unavailable"), "No usable index; `reason` says how to fix it."),
                },
            },
        },
        "/api/documents/{doc_id}": {
            "get": {
                "summary": "One whole document of the corpus",
                "operationId": "document",
                "parameters": [{"name": "doc_id", "in": "path", "required": True,
                                "schema": {"type": "string", "minLength": 1},
                                "description": "May contain '/', which is sent unescaped. The served description "
                                               "lists the loaded index's ids as examples."}],
                "responses": {
                    "200": _json(_ref("Document"), "The document."),
                    "414": _too_long(""),
                    "404": _error("No document with that id."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/openapi.json": {
            "get": {
                "summary": "This description",
                "operationId": "openapi",
                "responses": {"200": {"description": "The OpenAPI document.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}}},
            },
        },
    },
    "components": {
        "schemas": _schemas(settings),
        "responses": {
            "NotFound": _error("Unknown /api/ route."),
            "InternalError": _error("An unexpected failure (a bug); it is logged."),
        },
    },
}

