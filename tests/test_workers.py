"""Every worker of a real 2-worker `qa serve` in step and observable: idle workers follow a rebuild, health lists
them all, refused builds are counted, /metrics lives on its own port."""

from __future__ import annotations

import json
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Running, clean_env, free_port, qa_serve, request
from prometheus_client.parser import text_string_to_metric_families

from qa.config import Settings
from qa.encoders import Embedder
from qa.index import directory, layout
from qa.index.build import build_index

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
FOLLOW_SECONDS = 2.0  # every worker, idle or not, serves a new build within this long after `qa index` returns
NEW_DOC = "---\ntitle: 跨境汇款\n---\n\n工行数字钱包暂不支持跨境汇款，请前往网点办理国际汇款。\n"


class Served:
    """A 2-worker server of a copy of the seed index, its corpus, and its metrics listener."""

    def __init__(self, running: Running, settings: Settings, metrics_url: str) -> None:
        self.running, self.settings, self.metrics_url = running, settings, metrics_url
        self.url = running.url

    def workers(self) -> list[dict[str, object]]:
        status, _, body = request(f"{self.url}/api/health?all=1")
        assert status == 200, body
        found: list[dict[str, object]] = json.loads(body)["workers"]
        return found

    def samples(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        status, content_type, body = request(f"{self.metrics_url}/metrics")
        assert status == 200 and content_type.startswith("text/plain"), body[:200]
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body) for s in family.samples}


@pytest.fixture(scope="module")
def served(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("workers")
    shutil.copytree(ROOT / "corpus", root / "corpus")
    shutil.copytree(seed_settings.index_dir, root / "index", symlinks=True)  # its embedding cache comes along
    settings = Settings.load(environ={}, corpus_dir=root / "corpus", index_dir=root / "index", build_grace_seconds=0)
    metrics_port = free_port()
    with qa_serve(root, "--index-dir", str(settings.index_dir), "--workers", "2", "--metrics-port",
                  str(metrics_port), workers=2, env=clean_env()) as running:
        yield Served(running, settings, f"http://127.0.0.1:{metrics_port}")


def _current(settings: Settings) -> str:
    return directory.resolve_current(settings.index_dir).name


def test_an_idle_worker_follows_a_rebuild_with_no_request_sent(served: Served, embedder: Embedder) -> None:
    pids = sorted(int(str(w["pid"])) for w in served.workers())
    old = _current(served.settings)
    assert len(pids) == 2 and all(w["build_id"] == old for w in served.workers())
    (served.settings.corpus_dir / "remit.md").write_text(NEW_DOC, encoding="utf-8")
    new = build_index(served.settings, embedder=embedder).build_id
    returned = time.monotonic()
    # no request from here on until both workers logged their switch: each follows from its own watcher thread
    pending = {pid: re.compile(rf"pid {pid} switched from build {re.escape(old)} to {re.escape(new)}")
               for pid in pids}
    while pending and time.monotonic() - returned < 10:
        log = served.running.output()
        pending = {pid: line for pid, line in pending.items() if not line.search(log)}
        time.sleep(0.02)
    took = time.monotonic() - returned
    print(f"both idle workers switched {took:.2f} s after the build returned")
    assert not pending, f"workers {sorted(pending)} still on {old}"
    assert took <= FOLLOW_SECONDS, f"both workers switched {took:.2f} s after the build returned"
    workers = served.workers()
    assert sorted(int(str(w["pid"])) for w in workers) == pids and {w["build_id"] for w in workers} == {new}
    assert json.loads(request(f"{served.url}/api/ask", {"question": "数字钱包可以跨境汇款吗？"})[2])["sources"][0][
        "doc_id"] == "remit"


def test_a_refused_build_is_counted_and_listed_for_every_worker(served: Served) -> None:
    good = _current(served.settings)
    before = served.samples()
    bad = served.settings.index_dir / layout.BUILDS / "damaged"
    shutil.copytree(served.settings.index_dir / layout.BUILDS / good, bad)
    vectors = bad / layout.CHUNK_VECTORS
    vectors.write_bytes(vectors.read_bytes()[:200])
    link = served.settings.index_dir / ".current.test"
    link.symlink_to(Path(layout.BUILDS) / "damaged")
    os.replace(link, served.settings.index_dir / layout.CURRENT)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            workers = served.workers()
            if all(w["last_refusal"] for w in workers):
                break
            time.sleep(0.2)
        assert len(workers) == 2 and {w["build_id"] for w in workers} == {good}  # still serving the good one
        refusals = [w["last_refusal"] for w in workers]
        assert all(isinstance(r, dict) and r["build_id"] == "damaged" and r["reason"] == "corrupt" for r in refusals)
        after = served.samples()
        key = ("qa_build_refused_total", (("reason", "corrupt"),))
        assert after[key] - before.get(key, 0.0) == 2  # once by each worker
    finally:
        link.symlink_to(Path(layout.BUILDS) / good)
        os.replace(link, served.settings.index_dir / layout.CURRENT)


def test_metrics_are_served_on_their_own_port_and_describe_every_worker(served: Served) -> None:
    assert request(f"{served.url}/metrics")[0] == 404  # not on the public port
    assert request(f"{served.metrics_url}/api/health")[0] == 404  # and nothing else on the metrics port
    before = served.samples()
    assert request(f"{served.url}/api/ask", {"question": "忘记密码怎么办"})[0] == 200
    after = served.samples()
    workers = served.workers()
    for worker in workers:
        pid = str(worker["pid"])
        assert after[("qa_build_info", (("build_id", str(worker["build_id"])), ("pid", pid)))] == 1
        assert after[("qa_worker_resident_memory_bytes", (("pid", pid),))] > 50e6
        assert after[("qa_worker_cpu_seconds_total", (("pid", pid),))] > 0
    assert after[("qa_answerability_count", ())] - before.get(("qa_answerability_count", ()), 0.0) == 1
    assert after[("qa_http_requests_in_flight", ())] == 1  # the scrape itself
