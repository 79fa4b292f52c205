"""Backend comparison in one run: local index vs Milvus Lite vs a Milvus server, on one corpus (DRCD by default).

Run from the repository root:
    .venv/bin/python bench/bench_backends.py [--data .cache/drcd-300] [--cache-dir .cache/emb] [--json OUT]

For each backend: build time (`qa index`, plus the upload into Milvus), quality and in-process `ask` latency over
the question file (the parity check: every backend must give the same metrics), and req/s over HTTP with 8 clients
against `qa serve --workers 2`. The Milvus server is `milvus-lite server` on a free loopback port, started and
stopped here; everything listens on 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_api import _load
from servers import milvus_server, qa_serve

ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("local", "lite", "server")
PUBLISHED = re.compile(r"published build \S+ to Milvus at \S+ in ([0-9.]+) s")
PARITY = ("recall@1", "recall@3", "mrr", "answer_hit")


def main() -> int:
    args = _parser().parse_args()
    questions = [json.loads(line)["question"] for line in
                 (args.data / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="qa-bench-backends-") as tmp:
        work = Path(tmp)
        with milvus_server(work) if "server" in args.backends else contextlib.nullcontext() as server:
            for backend in args.backends:
                flags = _flags(backend, work, server.url if server else None)
                print(f"[{backend}] build ...", file=sys.stderr)
                results[backend] = {"build": _build(args, work / backend, flags)}
                print(f"[{backend}] {args.questions or 'all'} questions in-process ...", file=sys.stderr)
                results[backend]["in_process"] = _in_process(args, work / backend, flags)
                print(f"[{backend}] HTTP load ...", file=sys.stderr)
                results[backend]["http"] = _http(args, work / backend, flags, questions)
    print(_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 0 if _parity_ok(results) and all(r["http"]["errors"] == 0 for r in results.values()) else 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=ROOT / ".cache" / "drcd-300",
                        help="a directory with corpus/ and questions.jsonl (tools/drcd.py writes one)")
    parser.add_argument("--cache-dir", type=Path, help="embedding cache, so builds re-embed nothing")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--questions", type=int, help="only the first N questions in-process (default all)")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of HTTP load per backend")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of each `qa serve`")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    return parser


def _flags(backend: str, work: Path, server_uri: str | None) -> list[str]:
    if backend == "local":
        return []
    uri = str(work / "milvus-lite.db") if backend == "lite" else str(server_uri)
    return ["--backend", "milvus", "--milvus-uri", uri]


def _build(args: argparse.Namespace, index_dir: Path, flags: list[str]) -> dict[str, Any]:
    command = [sys.executable, "-m", "qa.cli", "index", "--corpus", str(args.data / "corpus"),
               "--index-dir", str(index_dir), *flags]
    if args.cache_dir:
        command += ["--cache-dir", str(args.cache_dir)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)
    seconds = time.perf_counter() - started
    published = PUBLISHED.search(done.stdout)
    return {"seconds": round(seconds, 1), "publish_seconds": float(published.group(1)) if published else None}


def _in_process(args: argparse.Namespace, index_dir: Path, flags: list[str]) -> dict[str, Any]:
    # A child process: a Milvus Lite file is locked by whoever opened it, and `qa serve` opens it next.
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        result: dict[str, Any] = pool.apply(_evaluate, (str(args.data / "questions.jsonl"), str(index_dir),
                                                        flags, args.questions))
    return result


def _evaluate(questions_path: str, index_dir: str, flags: list[str], limit: int | None) -> dict[str, Any]:
    from qa import evaluation
    from qa.config import Settings
    from qa.service import QAService

    options = dict(zip(flags[::2], flags[1::2], strict=True))
    settings = Settings.load(index_dir=Path(index_dir), backend=options.get("--backend"),
                             milvus_uri=options.get("--milvus-uri"))
    service = QAService.load(settings)
    questions = evaluation.load_questions(Path(questions_path))[:limit]
    service.ask(questions[0].question)  # the first encode pays for lazy initialisation
    return evaluation.summarize(evaluation.evaluate(questions, service.ask))


def _http(args: argparse.Namespace, index_dir: Path, flags: list[str], questions: list[str]) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="qa-bench-serve-") as tmp, \
            qa_serve(Path(tmp), "--index-dir", str(index_dir), *flags, "--workers", str(args.workers),
                     workers=args.workers, env=dict(os.environ), cwd=ROOT) as server:
        return _load(server.url, questions, args.concurrency, args.duration, server.process.pid)


def _parity_ok(results: dict[str, dict[str, Any]]) -> bool:
    base = next(iter(results.values()))["in_process"]
    return all(abs((r["in_process"][m] or 0) - (base[m] or 0)) <= 0.01 for r in results.values() for m in PARITY)


def _table(results: dict[str, dict[str, Any]]) -> str:
    rows = [("build s (publish s)", lambda r: f"{r['build']['seconds']}"
             + (f" ({r['build']['publish_seconds']})" if r["build"]["publish_seconds"] is not None else "")),
            *[(m, lambda r, m=m: f"{r['in_process'][m]}") for m in PARITY],
            ("ask p50 ms in-process", lambda r: f"{r['in_process']['latency_p50_ms']}"),
            ("ask p95 ms in-process", lambda r: f"{r['in_process']['latency_p95_ms']}"),
            ("req/s HTTP", lambda r: f"{r['http']['requests_per_s']}"),
            ("HTTP p50 / p95 ms", lambda r: f"{r['http']['p50_ms']} / {r['http']['p95_ms']}"),
            ("HTTP errors", lambda r: f"{r['http']['errors']}")]
    width = max(len(name) for name, _ in rows) + 2
    lines = ["".ljust(width) + "".join(b.rjust(16) for b in results)]
    lines += [name.ljust(width) + "".join(cell(r).rjust(16) for r in results.values()) for name, cell in rows]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
