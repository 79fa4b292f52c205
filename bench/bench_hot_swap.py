"""Hot swap under load: `qa serve` keeps answering while `qa index` adds a document, and refuses a corrupt build.

    python bench/bench_hot_swap.py                 # seed corpus, 2 workers, 8 clients
    python bench/bench_hot_swap.py --json out.json

Steps: copy the corpus and build an index in a temporary directory; start `qa serve` on a free loopback port; 8
clients ask questions back to back; add a new Markdown document and run `qa index`; poll until every one of 10
consecutive answers cites the new document and its /doc page is served; then point `current` at a copy of that build
with one file damaged, check for a few seconds that every worker keeps serving the good build, and roll back. Every
request of the clients is counted; the script exits 1 if any failed or a step did not happen in time.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections import Counter
from pathlib import Path
from typing import Any

from servers import REQUEST_TIMEOUT, clean_env, qa_serve, request

ROOT = Path(__file__).resolve().parent.parent
NEW_DOC = ("---\ntitle: 工行数字钱包跨境汇款说明\n---\n\n"
           "## 跨境汇款\n\n工行数字钱包暂不支持跨境汇款。需要向境外汇款的用户，请前往工行网点办理国际汇款业务。\n")
NEW_DOC_ID = "icbc-wallet/cross-border-remittance"
NEW_QUESTION = "数字钱包可以跨境汇款吗？"
TIMEOUT = 30.0  # for each step to happen


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "seed_dev.jsonl")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--cache-dir", type=Path, help="embedding cache to reuse (default: a fresh one)")
    parser.add_argument("--refuse-seconds", type=float, default=5.0, help="how long to watch the corrupt build")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    questions = [json.loads(line)["question"] for line in args.questions.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
    with tempfile.TemporaryDirectory(prefix="qa-hot-swap-") as tmp:
        result = run(Path(tmp), args, questions)
    print(json.dumps(result, ensure_ascii=False, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, ensure_ascii=False, indent=2), encoding="utf-8")
    ok = result["failed"] == 0 and result["new_document_seconds"] is not None and result["corrupt_build_refused"]
    return 0 if ok else 1


def run(tmp: Path, args: argparse.Namespace, questions: list[str]) -> dict[str, Any]:
    corpus, index_dir = tmp / "corpus", tmp / "index"
    shutil.copytree(args.corpus, corpus)
    env = clean_env(QA_CORPUS_DIR=str(corpus), QA_INDEX_DIR=str(index_dir),
                    QA_CACHE_DIR=str(args.cache_dir or tmp / "cache"), QA_BUILD_GRACE_SECONDS="0")
    _qa(env, "index")
    with qa_serve(tmp, "--workers", str(args.workers), workers=args.workers, env=env) as server:
        clients = Clients(server.url, questions, args.clients)
        clients.start()
        time.sleep(2)
        result = _swap_phase(server.url, env, corpus)
        result.update(_corrupt_phase(server.url, index_dir, args.refuse_seconds, server.log))
        clients.stop()
    return {"requests": clients.done, "failed": sum(clients.failures.values()),
            "failures_by_status": dict(clients.failures), **result}


def _swap_phase(url: str, env: dict[str, str], corpus: Path) -> dict[str, Any]:
    """Add a document, rebuild, and time until every worker answers with it."""
    old_build = _get_json(f"{url}/api/health")["build_id"]
    (corpus / "icbc-wallet" / "cross-border-remittance.md").write_text(NEW_DOC, encoding="utf-8")
    started = time.monotonic()
    _qa(env, "index")
    built = time.monotonic()
    streak, first, deadline = 0, None, built + TIMEOUT
    while streak < 10 and time.monotonic() < deadline:
        answer = _post_json(f"{url}/api/ask", {"question": NEW_QUESTION, "top_k": 3})
        page = _status(f"{url}/doc/{urllib.parse.quote(NEW_DOC_ID)}")
        streak = streak + 1 if answer["sources"][0]["doc_id"] == NEW_DOC_ID and page == 200 else 0
        first = first or (time.monotonic() if streak else None)
        time.sleep(0.05)
    return {"old_build": old_build, "new_build": _get_json(f"{url}/api/health")["build_id"],
            "rebuild_seconds": round(built - started, 1),
            "first_answer_seconds": round(first - built, 2) if first else None,
            "new_document_seconds": round(time.monotonic() - built, 2) if streak >= 10 else None}


def _corrupt_phase(url: str, index_dir: Path, watch: float, log: Path) -> dict[str, Any]:
    """Point current at a damaged copy of the good build; the workers must refuse it and keep serving."""
    sys.path.insert(0, str(ROOT))
    from qa.index import directory, layout

    good = directory.resolve_current(index_dir)
    bad = index_dir / layout.BUILDS / (good.name + "-damaged")
    shutil.copytree(good, bad)
    vectors = bad / layout.SENTENCE_VECTORS
    vectors.write_bytes(vectors.read_bytes()[: vectors.stat().st_size // 2])
    directory.swap_in(index_dir, bad, grace_seconds=3600)
    seen: set[str] = set()
    deadline = time.monotonic() + watch
    while time.monotonic() < deadline:
        seen.add(_get_json(f"{url}/api/health")["build_id"])
        time.sleep(0.05)
    refusals = log.read_text(encoding="utf-8", errors="replace").count(f"refused build {bad.name}")
    directory.swap_in(index_dir, good, grace_seconds=3600)
    return {"corrupt_build_refused": seen == {good.name} and refusals >= 1, "refusal_log_lines": refusals,
            "builds_served_while_corrupt": sorted(seen)}


class Clients:
    """N threads asking back to back until stopped; counts every request and every failure."""

    def __init__(self, url: str, questions: list[str], n: int) -> None:
        self.url, self.questions, self.n = url, questions, n
        self.done = 0
        self.failures: Counter[str] = Counter()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(i,), daemon=True) for i in range(n)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=REQUEST_TIMEOUT + 5)

    def _loop(self, offset: int) -> None:
        i = offset
        while not self._stop.is_set():
            question = self.questions[i % len(self.questions)]
            status, _, text = request(f"{self.url}/api/ask", {"question": question, "top_k": 5})
            # a failed connection (status 0) is named by its exception, as request() reports it
            failure = None if status == 200 else str(status) if status else text.split("(")[0]
            with self._lock:
                self.done += 1
                if failure:
                    self.failures[failure] += 1
            i += self.n


def _qa(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "qa.cli", *args], env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def _status(url: str, body: dict[str, Any] | None = None) -> int:
    return request(url, body).status


def _get_json(url: str) -> Any:
    return json.loads(request(url).text)


def _post_json(url: str, body: dict[str, Any]) -> Any:
    return json.loads(request(url, body).text)


if __name__ == "__main__":
    sys.exit(main())
