"""JSON API blueprint: each route reads its typed request (qa.requests) and answers from the loaded QAService."""

from __future__ import annotations

import dataclasses

from flask import Blueprint, Response, jsonify, request

from qa.requests import AskRequest, HealthParams, SearchParams, read_body, read_query
from qa.results import Unavailable
from qa.serve.loaded import app_settings, current_service, live_workers, loaded_service, unavailable_reason
from qa.serve.observe import note_answered
from qa.serve.openapi import spec_for
from qa.serve.question_events import record_question
from qa.serve.request_body import json_object

api = Blueprint("api", __name__, url_prefix="/api")

SPEC_EXAMPLE_IDS = 10  # document ids listed as examples in the served OpenAPI description


@api.post("/ask")
def ask() -> Response:
    service = current_service()
    result = service.answer(read_body(AskRequest, json_object(), service.settings))
    note_answered(result.answered, result.answerability)
    return jsonify(record_question(result, "api"))


@api.get("/search")
def search() -> Response:
    service = current_service()
    return jsonify(service.search_for(read_query(SearchParams, request.args, service.settings)))


@api.get("/health")
def health() -> Response | tuple[Response, int]:
    params = read_query(HealthParams, request.args, app_settings())
    service = loaded_service()
    if service is None:
        return jsonify(Unavailable(status="unavailable", reason=unavailable_reason())), 503
    found = service.health()
    return jsonify(dataclasses.replace(found, workers=live_workers()) if params.all == "1" else found)


@api.get("/documents/<path:doc_id>")
def document(doc_id: str) -> Response:
    return jsonify(dataclasses.asdict(current_service().document(doc_id)))


@api.get("/openapi.json")
def openapi() -> Response:
    service = loaded_service()
    return jsonify(spec_for(app_settings(), service.example_document_ids(SPEC_EXAMPLE_IDS) if service else []))
