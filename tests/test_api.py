"""The JSON API contract: response shapes, citations, each bad input's status and code, 404/405/503, spec."""

from __future__ import annotations

import dataclasses
import logging
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from qa.config import Settings
from qa.serve.app import create_app
from qa.serve.openapi import spec_for
from qa.service import QAService

# the description the test app serves: default settings (its question limit), no example ids
SPEC = spec_for(Settings(), [])

ANSWERABLE = "付款失败但钱被扣了两次怎么办？"
SOURCE_KEYS = {"n", "doc_id", "title", "url", "date", "chunk_id", "text", "start", "end", "score", "signals",
               "highlights", "kind", "matched_question", "location"}
ERROR_LOGGER = "qa.serve.app"
UNHANDLED = "unhandled error on "  # how the last-resort handler's log message begins


@pytest.fixture(scope="module")
def app(service: QAService) -> Flask:
    return create_app({"TESTING": True, "QA_SERVICE": service})


@pytest.fixture
def client(app: Flask, caplog: pytest.LogCaptureFixture) -> Iterator[FlaskClient]:
    """A client whose requests must never reach the last-resort 500 handler (which logs on qa.serve.app)."""
    with caplog.at_level(logging.ERROR, logger=ERROR_LOGGER):
        yield app.test_client()
    assert not [r for r in caplog.get_records("call") if r.getMessage().startswith(UNHANDLED)], \
        "a request reached the 500 handler"


@pytest.fixture
def unavailable_app(tmp_path: Path) -> Flask:
    return create_app({"TESTING": True, "QA_INDEX_DIR": str(tmp_path / "none")})


def assert_sources(sources: list[dict[str, Any]], service: QAService) -> None:
    assert [s["n"] for s in sources] == list(range(1, len(sources) + 1))
    for s in sources:
        assert set(s) == SOURCE_KEYS
        doc = service.document(s["doc_id"])
        assert s["title"] == doc.title and s["url"] == doc.url and s["date"] == doc.date
        assert isinstance(s["start"], int) and isinstance(s["end"], int)
        assert doc.text[s["start"]:s["end"]] == s["text"]
        assert s["chunk_id"].startswith(f"{s['doc_id']}:")
        assert isinstance(s["score"], float | int)
        assert set(s["signals"]) == {"dense", "sentence", "coverage", "bm25", "hybrid", "question", "verifier"}
        assert (s["kind"] == "faq") == (s["matched_question"] is not None) == (doc.kind == "faq")
        for start, end in s["highlights"]:
            assert 0 <= start < end <= len(s["text"])


def assert_ask_contract(body: dict[str, Any], question: str, service: QAService) -> None:
    assert list(body) == ["question", "answer", "answered", "answerability", "calibrated", "quotes",
                          "matched_question", "related_questions", "suggestions", "sources", "took_ms", "build_id",
                          "request_id"]
    assert body["calibrated"] is True and 0.0 <= body["answerability"] <= 1.0  # e5-torch has a fitted model
    assert body["question"] == question.strip()
    assert isinstance(body["answer"], str) and isinstance(body["answered"], bool)
    assert isinstance(body["took_ms"], float | int) and body["took_ms"] >= 0
    assert_sources(body["sources"], service)
    cited = {int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])}
    assert cited <= {s["n"] for s in body["sources"]}
    if body["answered"]:
        assert cited, "an answer must cite its sources"
    # the i-th [n] marker's sentence is quotes[i], found verbatim in source n
    markers = [int(n) for n in re.findall(r"\[(\d+)\]", body["answer"])]
    assert [q["n"] for q in body["quotes"]] == markers
    # quoted units are written one per line: the line break belongs to no sentence
    sentences = [part.lstrip("\n") for part in re.split(r"(?:\[\d+\])+", body["answer"]) if part.strip()]
    for quote, sentence in zip(body["quotes"], sentences, strict=True):
        assert body["sources"][quote["n"] - 1]["text"][quote["start"]:quote["end"]] == sentence


# --- the happy paths ---------------------------------------------------------------------------------


def test_ask_answers_with_citations(client: FlaskClient, service: QAService) -> None:
    response = client.post("/api/ask", json={"question": ANSWERABLE})
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert_ask_contract(body, ANSWERABLE, service)
    assert body["answered"] is True
    assert len(body["sources"]) == 5  # the default top_k
    assert any(s["highlights"] for s in body["sources"])


def test_ask_top_k_and_charset(client: FlaskClient, service: QAService) -> None:
    response = client.post("/api/ask", data=f'{{"question": " {ANSWERABLE} ", "top_k": 2}}'.encode(),
                           content_type="application/json; charset=utf-8")
    assert response.status_code == 200
    body = response.get_json()
    assert_ask_contract(body, ANSWERABLE, service)
    assert len(body["sources"]) == 2


def test_ask_unanswerable_question_keeps_the_contract(client: FlaskClient, service: QAService) -> None:
    question = "明天北京会下雨吗？"
    response = client.post("/api/ask", json={"question": question, "top_k": 3})
    assert response.status_code == 200
    assert_ask_contract(response.get_json(), question, service)


@pytest.mark.parametrize("question", [
    "？？？", "😀 支付失败", "zzzz qqqq", "a", "支付" * 250, "<script>alert(1)</script>",
    "What should I do if my payment keeps failing?", "支付失敗了怎麼辦？", "\t支付\r\n失败\n",
])
def test_ask_odd_but_valid_questions(client: FlaskClient, service: QAService, question: str) -> None:
    response = client.post("/api/ask", json={"question": question, "top_k": 20})
    assert response.status_code == 200
    assert_ask_contract(response.get_json(), question, service)
    assert re.search(SPEC["components"]["schemas"]["AskRequest"]["properties"]["question"]["pattern"], question)


@pytest.mark.parametrize(("question", "char", "at"), [
    ("abc\u0000def", "U+0000", 3), ("\x00", "U+0000", 0), ("支付\x1b[31m失败", "U+001B", 2),
    ("\x0b支付失败", "U+000B", 0), ("支付失败\x7f", "U+007F", 4), ("支付\x85失败", "U+0085", 2),
])
def test_a_control_character_in_a_question_is_refused(client: FlaskClient, question: str, char: str,
                                                       at: int) -> None:
    says = f"`question` holds a control character ({char} at position {at})"
    response = client.post("/api/ask", json={"question": question})
    assert_error(response, 400, "bad_request")
    assert says in response.get_json()["error"]["message"]
    searched = client.get("/api/search", query_string={"q": question})
    assert_error(searched, 400, "bad_request")
    assert says.replace("`question`", "`q`") in searched.get_json()["error"]["message"]
    # the schema's pattern refuses what the validator refuses
    assert not re.search(SPEC["components"]["schemas"]["AskRequest"]["properties"]["question"]["pattern"], question)


@pytest.mark.parametrize("mode", ["hybrid", "dense", "bm25"])
def test_search(client: FlaskClient, service: QAService, mode: str) -> None:
    response = client.get("/api/search", query_string={"q": "支付失败", "k": "3", "mode": mode})
    assert response.status_code == 200
    body = response.get_json()
    assert list(body) == ["query", "results", "took_ms"]
    assert body["query"] == "支付失败"
    assert 1 <= len(body["results"]) <= 3
    assert_sources(body["results"], service)


def test_search_default_k(client: FlaskClient, service: QAService) -> None:
    body = client.get("/api/search?q=换了新手机要注意什么？").get_json()
    assert len(body["results"]) == 5
    assert_sources(body["results"], service)


def test_health(client: FlaskClient, service: QAService) -> None:
    response = client.get("/api/health")
    assert response.status_code == 200
    body = response.get_json()
    assert body == dataclasses.asdict(service.health())
    assert body["calibrated"] is True and body["verifier"] is True  # e5-torch has both fitted
    assert body["status"] == "ok" and body["documents"] == 6 and body["chunks"] > 0
    assert body["build_id"] and body["loaded_at"] and body["index_built_at"]
    assert body["pid"] == os.getpid() and body["workers"] is None
    # one process here (tests/test_workers.py lists both workers of a real server)
    every = client.get("/api/health?all=1").get_json()["workers"]
    assert every == [{"pid": os.getpid(), "build_id": body["build_id"], "loaded_at": body["loaded_at"],
                      "last_refusal": None}]
    wrong = client.get("/api/health?all=yes")
    assert wrong.status_code == 400 and wrong.get_json()["error"]["code"] == "bad_request"


def test_document(client: FlaskClient, service: QAService) -> None:
    doc_id = "icbc-wallet/payment-failure"
    assert "/" in doc_id  # the seed corpus nests its files, so the <path:> route is exercised
    body = client.get(f"/api/documents/{doc_id}").get_json()
    doc = service.document(doc_id)
    assert body == {"doc_id": doc_id, "title": doc.title, "text": doc.text, "url": doc.url, "date": doc.date,
                    "source": doc.source, "kind": "passage", "locations": []}


# --- every bad input ---------------------------------------------------------------------------------

JSON = "application/json"
BAD_ASKS = [
    # (id, raw body, content type, status, code)
    ("empty", b'{"question": ""}', JSON, 400, "bad_request"),
    ("whitespace", b'{"question": "  \\n\\t "}', JSON, 400, "bad_request"),
    ("too-long", ('{"question": "%s"}' % ("问" * 501)).encode(), JSON, 400, "bad_request"),
    # the limit counts the question as sent, as the schema's maxLength does
    ("too-long-with-spaces", ('{"question": " %s"}' % ("问" * 500)).encode(), JSON, 400, "bad_request"),
    ("missing", b"{}", JSON, 400, "bad_request"),
    ("unknown-field", b'{"question": "q", "topk": 3}', JSON, 400, "bad_request"),
    ("question-number", b'{"question": 123}', JSON, 400, "bad_request"),
    ("question-null", b'{"question": null}', JSON, 400, "bad_request"),
    ("question-list", b'{"question": ["a"]}', JSON, 400, "bad_request"),
    ("question-object", b'{"question": {"a": 1}}', JSON, 400, "bad_request"),
    ("question-bool", b'{"question": true}', JSON, 400, "bad_request"),
    ("lone-surrogate", b'{"question": "\\ud800"}', JSON, 400, "bad_request"),
    ("top_k-string", b'{"question": "q", "top_k": "5"}', JSON, 400, "bad_request"),
    ("top_k-fraction", b'{"question": "q", "top_k": 5.5}', JSON, 400, "bad_request"),
    ("top_k-true", b'{"question": "q", "top_k": true}', JSON, 400, "bad_request"),
    ("top_k-false", b'{"question": "q", "top_k": false}', JSON, 400, "bad_request"),
    ("top_k-null", b'{"question": "q", "top_k": null}', JSON, 400, "bad_request"),
    ("top_k-list", b'{"question": "q", "top_k": [5]}', JSON, 400, "bad_request"),
    ("top_k-zero", b'{"question": "q", "top_k": 0}', JSON, 400, "bad_request"),
    ("top_k-negative", b'{"question": "q", "top_k": -1}', JSON, 400, "bad_request"),
    ("top_k-21", b'{"question": "q", "top_k": 21}', JSON, 400, "bad_request"),
    ("top_k-NaN", b'{"question": "q", "top_k": NaN}', JSON, 400, "bad_request"),
    ("top_k-1e400", b'{"question": "q", "top_k": 1e400}', JSON, 400, "bad_request"),
    ("top_k-5000-digits", b'{"question": "q", "top_k": ' + b"9" * 5000 + b"}", JSON, 400, "bad_request"),
    ("malformed", b'{"question": ', JSON, 400, "bad_request"),
    ("trailing-comma", b'{"question": "q",}', JSON, 400, "bad_request"),
    ("empty-body", b"", JSON, 400, "bad_request"),
    ("not-utf8", b'{"question": "\xff\xfe"}', JSON, 400, "bad_request"),
    ("deeply-nested", b"[" * 8000 + b"]" * 8000, JSON, 400, "bad_request"),
    ("array", b'["question"]', JSON, 400, "bad_request"),
    ("string", b'"question"', JSON, 400, "bad_request"),
    ("null", b"null", JSON, 400, "bad_request"),
    ("number", b"42", JSON, 400, "bad_request"),
    ("text-plain", b'{"question": "q"}', "text/plain", 415, "unsupported_media_type"),
    ("form", b"question=q", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
    ("no-content-type", b'{"question": "q"}', None, 415, "unsupported_media_type"),
    ("too-large", ('{"question": "%s"}' % ("x" * 17_000)).encode(), JSON, 413, "payload_too_large"),
]


@pytest.mark.parametrize(("body", "content_type", "status", "code"), [case[1:] for case in BAD_ASKS],
                         ids=[case[0] for case in BAD_ASKS])
def test_ask_rejects_bad_input(client: FlaskClient, body: bytes, content_type: str | None, status: int,
                               code: str) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post("/api/ask", data=body, headers=headers)
    assert_error(response, status, code)


BAD_SEARCHES = [
    ("no-q", {"k": "3"}), ("empty-q", {"q": ""}), ("blank-q", {"q": "   "}), ("long-q", {"q": "问" * 501}),
    ("k-word", {"q": "支付", "k": "abc"}), ("k-fraction", {"q": "支付", "k": "5.5"}),
    ("k-exponent", {"q": "支付", "k": "5e0"}),
    ("k-empty", {"q": "支付", "k": ""}), ("k-space", {"q": "支付", "k": " 5"}),
    ("k-arabic-digit", {"q": "支付", "k": "٥"}), ("k-zero", {"q": "支付", "k": "0"}),
    ("k-21", {"q": "支付", "k": "21"}), ("k-huge", {"q": "支付", "k": "9" * 400}),
    ("mode", {"q": "支付", "mode": "fuzzy"}),
]


def test_integral_numbers_are_integers(client: FlaskClient) -> None:
    # JSON Schema's "integer" includes 3.0; the schema says integer, so the API takes both spellings
    body = client.post("/api/ask", json={"question": ANSWERABLE, "top_k": 3.0}).get_json()
    assert len(body["sources"]) == 3
    for k in ("3", "3.0", "3.00", "+3"):
        assert len(client.get("/api/search", query_string={"q": "支付", "k": k}).get_json()["results"]) == 3


def test_request_id_is_returned_and_a_plain_client_id_kept(client: FlaskClient) -> None:
    made = client.get("/api/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", made)
    assert client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    odd = client.get("/api/health", headers={"X-Request-ID": "a b\u00e9" * 30}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", odd)


@pytest.mark.parametrize("params", [case[1] for case in BAD_SEARCHES], ids=[case[0] for case in BAD_SEARCHES])
def test_search_rejects_bad_input(client: FlaskClient, params: dict[str, str]) -> None:
    assert_error(client.get("/api/search", query_string=params), 400, "bad_request")


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/api/nope", 404, "not_found"),
    ("POST", "/api/nope", 404, "not_found"),
    ("GET", "/api", 404, "not_found"),
    ("GET", "/api/ask/", 404, "not_found"),
    ("GET", "/api/documents/no/such/doc", 404, "not_found"),
    ("GET", "/api/ask", 405, "method_not_allowed"),
    ("PUT", "/api/ask", 405, "method_not_allowed"),
    ("POST", "/api/health", 405, "method_not_allowed"),
    ("DELETE", "/api/search", 405, "method_not_allowed"),
    ("POST", "/api/openapi.json", 405, "method_not_allowed"),
])
def test_unknown_routes_and_methods(client: FlaskClient, method: str, path: str, status: int,
                                    code: str) -> None:
    response = client.open(path, method=method)
    assert_error(response, status, code)
    if status == 405:
        assert method not in response.headers["Allow"]


def assert_error(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert list(body) == ["error"]
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_last_resort_handler_returns_json_500(service: QAService, caplog: pytest.LogCaptureFixture) -> None:
    app = create_app({"TESTING": True, "QA_SERVICE": service})

    def boom() -> str:
        raise RuntimeError("deliberate")

    app.add_url_rule("/api/boom", "boom", boom)
    app.add_url_rule("/boom", "page_boom", boom)
    with caplog.at_level(logging.ERROR, logger=ERROR_LOGGER):
        assert_error(app.test_client().get("/api/boom"), 500, "internal_error")
        page = app.test_client().get("/boom")
    assert page.status_code == 500 and page.mimetype == "text/html"
    assert "deliberate" not in page.get_data(as_text=True)  # details go to the log, not the user
    assert sum(r.getMessage().startswith(UNHANDLED) for r in caplog.records) == 2


# --- no index: 503 -----------------------------------------------------------------------------------


def test_unavailable_without_index(unavailable_app: Flask) -> None:
    client = unavailable_app.test_client()
    health = client.get("/api/health")
    assert health.status_code == 503
    body = health.get_json()
    assert body["status"] == "unavailable"
    assert "none" in body["reason"]  # names the missing directory
    assert_error(client.post("/api/ask", json={"question": ANSWERABLE}), 503, "unavailable")
    assert_error(client.get("/api/search?q=支付"), 503, "unavailable")
    assert_error(client.get("/api/documents/a"), 503, "unavailable")
    assert client.get("/api/openapi.json").status_code == 200
    page = client.get("/")
    assert page.status_code == 503
    assert body["reason"] in page.get_data(as_text=True).replace("&#39;", "'")


# --- OpenAPI -----------------------------------------------------------------------------------------


def test_openapi_lists_every_api_route(app: Flask, client: FlaskClient, service: QAService) -> None:
    spec = client.get("/api/openapi.json").get_json()
    # the served description is SPEC plus real document ids as examples (schemathesis requests them)
    examples = spec["paths"]["/api/documents/{doc_id}"]["get"]["parameters"][0].pop("examples")
    assert examples and all(service.document(e["value"]) for e in examples.values())
    assert spec == SPEC
    assert spec["openapi"].startswith("3.")
    routes = {re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule): set(rule.methods or ()) - {"HEAD", "OPTIONS"}
              for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")}
    assert set(spec["paths"]) == set(routes)
    for path, methods in routes.items():
        assert {m.lower() for m in methods} == set(spec["paths"][path])


def _real_responses(client: FlaskClient, unavailable: FlaskClient, events_off: FlaskClient,
                    doc_id: str) -> dict[tuple[str, str, str], Any]:
    ask = {"question": ANSWERABLE}
    return {
        ("/api/ask", "post", "200"): client.post("/api/ask", json=ask),
        ("/api/ask", "post", "400"): client.post("/api/ask", json={"question": ""}),
        ("/api/ask", "post", "405"): client.get("/api/ask"),
        ("/api/ask", "post", "413"): client.post("/api/ask", json={"question": "x" * 20_000}),
        ("/api/ask", "post", "415"): client.post("/api/ask", data="q"),
        ("/api/ask", "post", "503"): unavailable.post("/api/ask", json=ask),
        ("/api/search", "get", "200"): client.get("/api/search?q=支付失败"),
        ("/api/search", "get", "400"): client.get("/api/search?q=支付&k=x"),
        ("/api/search", "get", "405"): client.post("/api/search"),
        ("/api/search", "get", "503"): unavailable.get("/api/search?q=支付"),
        ("/api/health", "get", "200"): client.get("/api/health?all=1"),
        ("/api/health", "get", "400"): client.get("/api/health?all=2"),
        ("/api/health", "get", "503"): unavailable.get("/api/health"),
        ("/api/documents/{doc_id}", "get", "200"): client.get(f"/api/documents/{doc_id}"),
        ("/api/documents/{doc_id}", "get", "404"): client.get("/api/documents/missing"),
        ("/api/documents/{doc_id}", "get", "503"): unavailable.get(f"/api/documents/{doc_id}"),
        ("/api/openapi.json", "get", "200"): client.get("/api/openapi.json"),
        ("/api/feedback", "post", "200"): client.post("/api/feedback", json={"request_id": "r1", "helpful": True}),
        ("/api/feedback", "post", "400"): client.post("/api/feedback", json={"request_id": "r1"}),
        ("/api/feedback", "post", "405"): client.get("/api/feedback"),
        ("/api/feedback", "post", "413"): client.post("/api/feedback", json={"comment": "x" * 20_000}),
        ("/api/feedback", "post", "415"): client.post("/api/feedback", data="r1"),
        ("/api/feedback", "post", "503"): events_off.post("/api/feedback", json={"request_id": "r1",
                                                                                  "helpful": True}),
    }


def test_real_responses_match_documented_schemas(client: FlaskClient, unavailable_app: Flask,
                                                 service: QAService) -> None:
    events_off = create_app({"TESTING": True, "QA_SERVICE": QAService(
        service.live, dataclasses.replace(service.settings, events_dir="off"))}).test_client()
    real = _real_responses(client, unavailable_app.test_client(), events_off, "icbc-wallet/payment-failure")
    documented = {(path, method, status): op["responses"][status] for path, ops in SPEC["paths"].items()
                  for method, op in ops.items() for status in op["responses"]}
    # a request line over gunicorn's limit never reaches the app (tests/test_server.py requests it)
    by_gunicorn = {key for key, response in documented.items() if "text/html" in response.get("content", {})}
    assert {status for _, _, status in by_gunicorn} == {"414"}
    assert set(documented) - by_gunicorn == set(real), "every documented response needs a real request here"
    for (path, method, status), response in real.items():
        assert str(response.status_code) == status, (path, method, status)
        schema = SPEC["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
        check_schema(response.get_json(), schema, f"{method.upper()} {path} {status}")


def check_schema(value: Any, schema: dict[str, Any], where: str) -> None:
    """The subset of JSON Schema the spec uses: $ref, type (with null), enum, required, properties, items."""
    if "$ref" in schema:
        schema = SPEC["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    types = schema.get("type")
    if types is not None:
        allowed = types if isinstance(types, list) else [types]
        assert any(_is_type(value, t) for t in allowed), f"{where}: {value!r} is not {types}"
    if "enum" in schema:
        assert value in schema["enum"], f"{where}: {value!r} not in {schema['enum']}"
    if isinstance(value, dict) and "properties" in schema:
        missing = set(schema.get("required", ())) - set(value)
        assert not missing, f"{where}: missing keys {missing}"
        undocumented = set(value) - set(schema["properties"])
        assert not undocumented, f"{where}: undocumented keys {undocumented}"
        for key, item in value.items():
            check_schema(item, schema["properties"][key], f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            check_schema(item, schema["items"], f"{where}[{i}]")


def _is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if name == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return isinstance(value, {"string": str, "boolean": bool, "null": type(None), "object": dict,
                              "array": list}[name])


def test_request_schema_documents_the_accepted_fields() -> None:
    request_schema = SPEC["components"]["schemas"]["AskRequest"]
    assert set(request_schema["properties"]) == {"question", "top_k"}
    assert request_schema["required"] == ["question"]

