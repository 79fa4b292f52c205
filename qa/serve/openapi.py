"""The OpenAPI 3.1 description of the JSON API, served at /api/openapi.json."""

from __future__ import annotations

import copy
from typing import Any

from qa.retrieval import SIGNALS
from qa.service import MAX_TOP_K


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


_NULLABLE_STRING = {"type": ["string", "null"]}
# The question must hold a character that str.strip() keeps: the class of Python's whitespace, written out so
# every regex dialect (ECMA, Rust, Python) reads the pattern the same way.
_SPACE_CLASS = "".join(f"\\u{c:04x}" for c in range(0x10000) if chr(c).isspace())
NON_BLANK = f"[^{_SPACE_CLASS}]"
QUESTION_LIMIT = 500
_QUESTION = {"type": "string", "minLength": 1, "maxLength": QUESTION_LIMIT, "pattern": NON_BLANK,
             "examples": ["付款失败但钱被扣了两次怎么办？"]}
_TOP_K_NOTE = ("A JSON integer; a number with a zero fraction such as 3.0 counts as one (as in JSON Schema); "
               "booleans are rejected.")
_RANGE = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}

SCHEMAS: dict[str, Any] = {
    "AskRequest": {
        "type": "object",
        "required": ["question"],
        "additionalProperties": False,
        "properties": {
            "question": {**_QUESTION,
                         "description": "At most 500 characters as sent (QA_MAX_QUESTION_CHARS), at least one of "
                                        "them not whitespace; answered trimmed."},
            "top_k": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 5,
                      "description": f"How many sources to return. {_TOP_K_NOTE}"},
        },
    },
    "AskResponse": {
        "type": "object",
        "required": ["question", "answer", "answered", "answerability", "quotes", "sources", "took_ms"],
        "properties": {
            "question": {"type": "string", "description": "The question as understood (trimmed)."},
            "answer": {"type": "string",
                       "description": "Extracted sentences, each followed by a [n] marker citing "
                                      "sources[n-1]; empty when answered is false."},
            "answered": {"type": "boolean",
                         "description": "False when the corpus holds no passage that answers the question."},
            "answerability": {"type": "number", "minimum": 0, "maximum": 1,
                              "description": "Estimated probability that the corpus answers the question (a "
                                             "logistic model over retrieval and question features); the service "
                                             "abstains below its threshold, fitted on the dev questions."},
            "quotes": {"type": "array", "description": "Where each answer sentence lies, in answer order: the i-th "
                                                       "[n] marker's sentence is sources[n-1].text[start:end] "
                                                       "(code points). Empty when answered is false.",
                       "items": {"type": "object", "required": ["n", "start", "end"],
                                 "properties": {"n": {"type": "integer", "minimum": 1},
                                                "start": {"type": "integer", "minimum": 0},
                                                "end": {"type": "integer", "minimum": 1}}}},
            "sources": {"type": "array", "items": _ref("Source")},
            "took_ms": {"type": "number"},
        },
    },
    "SearchResponse": {
        "type": "object",
        "required": ["query", "results", "took_ms"],
        "properties": {
            "query": {"type": "string"},
            "results": {"type": "array", "items": _ref("Source")},
            "took_ms": {"type": "number"},
        },
    },
    "Source": {
        "type": "object",
        "required": ["n", "doc_id", "title", "url", "date", "chunk_id", "text", "start", "end", "score",
                     "signals", "highlights"],
        "properties": {
            "n": {"type": "integer", "minimum": 1, "description": "1-based number used by [n] markers."},
            "doc_id": {"type": "string", "description": "Corpus path without extension; may contain '/'."},
            "title": {"type": "string"},
            "url": _NULLABLE_STRING,
            "date": _NULLABLE_STRING,
            "chunk_id": {"type": "string"},
            "text": {"type": "string", "description": "The passage: the document's text[start:end]."},
            "start": {"type": "integer", "minimum": 0},
            "end": {"type": "integer", "minimum": 0},
            "score": {"type": "number", "description": "Ranking score of the chosen mode."},
            "signals": _ref("Signals"),
            "highlights": {"type": "array", "items": _RANGE,
                           "description": "[start, end) ranges of `text` holding the question's terms."},
        },
    },
    "Signals": {
        "type": "object",
        "description": "Each ranking signal for this passage: cosine with the passage (dense) and with its best "
                       "sentence, IDF-weighted share of the question's terms (coverage), BM25, and the fused "
                       "hybrid score.",
        "required": list(SIGNALS),
        "properties": {name: {"type": "number"} for name in SIGNALS},
    },
    "Health": {
        "type": "object",
        "required": ["status", "documents", "chunks", "model", "build_id", "index_built_at", "loaded_at",
                     "load_seconds"],
        "properties": {
            "status": {"type": "string", "enum": ["ok"]},
            "documents": {"type": "integer", "minimum": 0},
            "chunks": {"type": "integer", "minimum": 0},
            "model": {"type": "string"},
            "build_id": {"type": "string", "description": "The index build this worker answers from."},
            "index_built_at": {"type": "string", "description": "ISO 8601 time the index was built."},
            "loaded_at": {"type": "string", "description": "ISO 8601 time this worker loaded the build."},
            "load_seconds": {"type": "number", "description": "How long loading the build took."},
            "build_seconds": {"type": ["number", "null"], "description": "How long that build took."},
            "index_bytes": {"type": "integer", "minimum": 0, "description": "The build's size on disk."},
        },
    },
    "Unavailable": {
        "type": "object",
        "required": ["status", "reason"],
        "properties": {
            "status": {"type": "string", "enum": ["unavailable"]},
            "reason": {"type": "string", "description": "Why no index is usable and how to fix it."},
        },
    },
    "Document": {
        "type": "object",
        "required": ["doc_id", "title", "text", "url", "date", "source"],
        "properties": {
            "doc_id": {"type": "string"},
            "title": {"type": "string"},
            "text": {"type": "string"},
            "url": _NULLABLE_STRING,
            "date": _NULLABLE_STRING,
            "source": _NULLABLE_STRING,
        },
    },
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {
            "error": {
                "type": "object",
                "required": ["code", "message"],
                "properties": {
                    "code": {"type": "string", "enum": [
                        "bad_request", "not_found", "method_not_allowed", "payload_too_large", "uri_too_long",
                        "unsupported_media_type", "internal_error", "unavailable"]},
                    "message": {"type": "string", "description": "What went wrong and how to fix it."},
                },
            },
        },
    },
}

_BAD_REQUEST = _error("Invalid parameter (empty or too long question, wrong type, out of range).")
_UNAVAILABLE = _error("No usable index is loaded; the message says how to build one.")

SPEC: dict[str, Any] = {
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
                    "413": _error("The body is larger than 16 KiB (a body up to 10 MiB is read and discarded "
                                  "first, so the client reads this answer; past that the connection closes)."),
                    "415": _error("The body is not sent as application/json."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/search": {
            "get": {
                "summary": "Rank passages for a query without composing an answer",
                "operationId": "search",
                "parameters": [
                    {"name": "q", "in": "query", "required": True, "schema": _QUESTION,
                     "description": "As `question` of /api/ask. Every accepted length fits the request line "
                                    "(8190 bytes, enough for 500 percent-encoded 4-byte characters)."},
                    {"name": "k", "in": "query", "required": False,
                     "schema": {"type": "integer", "minimum": 1, "maximum": MAX_TOP_K, "default": 5},
                     "description": f"How many passages to return. {_TOP_K_NOTE}"},
                    {"name": "mode", "in": "query", "required": False,
                     "schema": {"type": "string", "enum": ["hybrid", "dense", "bm25"], "default": "hybrid"}},
                ],
                "responses": {
                    "200": _json(_ref("SearchResponse"), "Ranked passages, numbered from 1."),
                    "400": _BAD_REQUEST,
                    "414": _error("The request line is longer than 8190 bytes (a question far over the limit)."),
                    "405": _error("Only GET is allowed."),
                    "503": _UNAVAILABLE,
                },
            },
        },
        "/api/health": {
            "get": {
                "summary": "Whether an index is loaded, and which",
                "operationId": "health",
                "responses": {
                    "200": _json(_ref("Health"), "The index is loaded."),
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
                    "414": _error("The request line is longer than 8190 bytes."),
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
        "schemas": SCHEMAS,
        "responses": {
            "NotFound": _error("Unknown /api/ route."),
            "InternalError": _error("An unexpected failure (a bug); it is logged."),
        },
    },
}


def spec_for(doc_ids: list[str]) -> dict[str, Any]:
    """SPEC with some of the loaded index's document ids as examples of /api/documents/{doc_id}."""
    spec = copy.deepcopy(SPEC)
    if doc_ids:
        parameter = spec["paths"]["/api/documents/{doc_id}"]["get"]["parameters"][0]
        parameter["examples"] = {f"doc{n}": {"value": doc_id} for n, doc_id in enumerate(doc_ids, start=1)}
    return spec
