"""The served OpenAPI description follows the settings, and real responses validate against it."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from processes import clean_env, qa_serve, request

from qa.config import Settings
from qa.serve.openapi import spec_for


def _validator(spec: dict[str, Any], name: str) -> jsonschema.Draft202012Validator:
    """A validator for one component schema, resolving its $refs inside the spec."""
    root = {**spec, "$ref": f"#/components/schemas/{name}"}
    return jsonschema.Draft202012Validator(root)


def test_the_schema_follows_the_question_limit() -> None:
    spec = spec_for(Settings.load(environ={"QA_MAX_QUESTION_CHARS": "80"}), [])
    question = spec["components"]["schemas"]["AskRequest"]["properties"]["question"]
    assert question["maxLength"] == 80 and "At most 80 characters" in question["description"]
    search_q = spec["paths"]["/api/search"]["get"]["parameters"][0]["schema"]
    assert search_q["maxLength"] == 80


def test_every_result_field_is_documented_and_required() -> None:
    schemas = spec_for(Settings(), [])["components"]["schemas"]
    assert schemas["AskResponse"]["required"] == ["question", "answer", "answered", "answerability", "calibrated",
                                                  "quotes", "matched_question", "related_questions", "suggestions",
                                                  "sources", "took_ms", "build_id", "request_id"]
    assert set(schemas["Signals"]["required"]) == {"dense", "sentence", "coverage", "bm25", "hybrid", "question",
                                                    "verifier"}
    assert schemas["Source"]["properties"]["kind"]["enum"] == ["passage", "faq"]
    assert "matched_question" in schemas["Source"]["required"]
    assert all(prop.get("description") for prop in schemas["Source"]["properties"].values())


@pytest.mark.slow
def test_a_real_answer_validates_against_the_served_schema(seed_settings: Settings, tmp_path: Path) -> None:
    with qa_serve(tmp_path, "--index-dir", str(seed_settings.index_dir), "--workers", "1", workers=1,
                  env=clean_env(QA_MAX_QUESTION_CHARS="80")) as server:
        url = server.url
        status, _, body = request(f"{url}/api/openapi.json")
        spec = json.loads(body)
        assert status == 200
        assert spec["components"]["schemas"]["AskRequest"]["properties"]["question"]["maxLength"] == 80
        status, _, body = request(f"{url}/api/ask", {"question": "付款失败但钱被扣了两次怎么办？"})
        assert status == 200
        _validator(spec, "AskResponse").validate(json.loads(body))
        status, _, body = request(f"{url}/api/health")
        _validator(spec, "Health").validate(json.loads(body))
        status, _, body = request(f"{url}/api/ask", {"question": "问" * 81})
        assert status == 400 and "the limit is 80" in json.loads(body)["error"]["message"]
        _validator(spec, "Error").validate(json.loads(body))
        status, _, body = request(f"{url}/?q={urllib.parse.quote('问' * 81)}")
        assert status == 400
