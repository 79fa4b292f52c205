"""HTTP benchmark of `qa serve`: encode-bound ceiling, /api/ask latency, req/s with 1, 8, 32 clients, memory.

Run from the repository root:  .venv/bin/python bench/bench_api.py [--workers 2] [--threads 8] [--json OUT]
Without --url it builds index/ if missing, starts `qa serve` on a free loopback port and stops it at the end.
The ceiling is measured first, in a child process with the server not yet started: cores x questions/s of one
single-threaded encode of the same questions (what the server would reach encoding one question at a time).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench_query_batches import encode_costs
from servers import cpu_seconds, memory, qa_serve

ROOT = Path(__file__).resolve().parent.parent
REQUEST_TIMEOUT = 30.0


def main() -> int:
    args = _parser().parse_args()
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    print(f"ceiling: single-threaded encodes, {args.ceiling_passes} passes ...", file=sys.stderr)
    args.ceiling = _ceiling(questions, args.ceiling_passes)
    if args.url:
        results = _run(args, args.url, questions, args.server_pid)
    else:
        with _started_server(args) as (url, pid):
            results = _run(args, url, questions, pid)
    # measured again once the load is over: how far the two differ says how steady the machine was
    print("ceiling again, after the load ...", file=sys.stderr)
    results["ceiling_after"] = _ceiling(questions, args.ceiling_passes)
    results["loadavg_after"] = os.getloadavg()[0]
    return _report(args, results)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="benchmark a running server (e.g. http://127.0.0.1:8000) "
                        "instead of one started here")
    parser.add_argument("--server-pid", type=int,
                        help="with --url: the gunicorn master's pid, for the memory figures")
    parser.add_argument("--workers", type=int, help="gunicorn workers of the server started here "
                        "(default: qa serve's)")
    parser.add_argument("--threads", type=int, help="threads per worker of the server started here")
    parser.add_argument("--omp-threads", type=int, help="OMP_NUM_THREADS for the server started here "
                        "(default: qa serve's, cores / workers)")
    parser.add_argument("--omp-wait-policy", choices=("PASSIVE", "ACTIVE"),
                        help="OMP_WAIT_POLICY for the server started here (default: the engine's, PASSIVE)")
    parser.add_argument("--batch-max", type=int, help="QA_BATCH_MAX for the server started here (1: no batching)")
    parser.add_argument("--batch-wait-ms", type=int, help="QA_BATCH_WAIT_MS for the server started here")
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index",
                        help="index for the server started here; built from corpus/ when missing")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "seed_dev.jsonl")
    parser.add_argument("--passes", type=int, default=3, help="sequential passes over the questions")
    parser.add_argument("--duration", type=float, default=15.0, help="seconds of load at each client count")
    parser.add_argument("--clients", default="1,8,32", help="comma-separated concurrent client counts")
    parser.add_argument("--ceiling-passes", type=int, default=3,
                        help="passes of single-threaded encodes over the questions for the ceiling")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser


@contextlib.contextmanager
def _started_server(args: argparse.Namespace) -> Iterator[tuple[str, int]]:
    """Build the index if needed, run `qa serve`, wait until every worker is warm; stop it on exit."""
    index_dir = args.index_dir.resolve()
    if not (index_dir / "current" / "manifest.json").exists():
        print(f"building the index in {index_dir} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "qa.cli", "index", "--index-dir", str(index_dir)],
                       cwd=ROOT, check=True)
    flags = ["--index-dir", str(index_dir)]
    for flag, value in (("--workers", args.workers), ("--threads", args.threads)):
        if value is not None:
            flags += [flag, str(value)]
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as tmp, \
            qa_serve(Path(tmp), *flags, workers=args.workers or _default_workers(), env=_server_env(args),
                     cwd=ROOT) as server:
        yield server.url, server.process.pid


def _server_env(args: argparse.Namespace) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name, value in (("OMP_NUM_THREADS", args.omp_threads), ("OMP_WAIT_POLICY", args.omp_wait_policy),
                        ("QA_BATCH_MAX", args.batch_max), ("QA_BATCH_WAIT_MS", args.batch_wait_ms)):
        if value is not None:
            env[name] = str(value)
    return env


def _default_workers() -> int:
    sys.path.insert(0, str(ROOT))
    from qa.config import Settings

    return Settings().workers


def _run(args: argparse.Namespace, url: str, questions: list[str], pid: int | None) -> dict[str, Any]:
    results: dict[str, Any] = {"url": url, "workers": None if args.url else (args.workers or _default_workers()),
                               "threads": args.threads, "omp_threads": args.omp_threads,
                               "omp_wait_policy": args.omp_wait_policy, "batch_max": args.batch_max,
                               "batch_wait_ms": args.batch_wait_ms, "cpus": os.cpu_count(),
                               "loadavg_before": os.getloadavg()[0], "ceiling": args.ceiling}
    results["memory_before"] = memory(pid) if pid else None
    print(f"sequential: {args.passes} passes over {len(questions)} questions ...", file=sys.stderr)
    results["sequential"] = _sequential(url, questions, args.passes)
    results["load"] = []
    for clients in _client_counts(args.clients):
        print(f"load: {clients} clients for {args.duration:.0f} s ...", file=sys.stderr)
        results["load"].append(_load(url, questions, clients, args.duration, pid))
    results["memory_after"] = memory(pid) if pid else None
    return results


def _client_counts(raw: str) -> list[int]:
    counts = [int(part) for part in raw.split(",") if part.strip()]
    if not counts or min(counts) < 1:
        raise SystemExit(f"--clients must be positive integers separated by commas, got {raw!r}")
    return counts


def _ceiling(questions: list[str], passes: int) -> dict[str, Any]:
    """One single-threaded encode per question (bench_query_batches.py, OMP_NUM_THREADS=1), as each worker encodes."""
    cpu_ms, wall_ms = encode_costs(questions, [1], passes, threads=1)[1]
    cpus = os.cpu_count() or 1
    return {"encode_ms": wall_ms, "encode_cpu_ms": cpu_ms, "cpus": cpus,
            "queries_per_s": round(cpus * 1000 / wall_ms, 1)}


class _Client:
    """One keep-alive connection; reconnects after an error."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn: http.client.HTTPConnection | None = None
        self.failure = ""  # the exception of the last request that failed outright
        self.retries = 0  # requests resent once because the server had closed the idle keep-alive connection

    def ask(self, question: str) -> tuple[int, float, float | None]:
        """(status, client latency ms, server took_ms); status 0 when the request failed outright."""
        body = json.dumps({"question": question, "top_k": 5}).encode("utf-8")
        started = time.perf_counter()
        reused = self.conn is not None
        try:
            data, status = self._post(body)
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
            self.close()
            if not reused:
                return self._failed(exc, started)
            # gunicorn closes a keep-alive connection idle for 2 s; a client starved of CPU that long finds it
            # closed before any byte of an answer: resend once on a new connection, as HTTP clients do
            self.retries += 1
            try:
                data, status = self._post(body)
            except (OSError, http.client.HTTPException) as again:
                return self._failed(again, started)
        except (OSError, http.client.HTTPException) as exc:
            return self._failed(exc, started)
        ms = (time.perf_counter() - started) * 1000
        took = json.loads(data).get("took_ms") if status == 200 else None
        return status, ms, took

    def _post(self, body: bytes) -> tuple[bytes, int]:
        if self.conn is None:
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        self.conn.request("POST", "/api/ask", body, {"Content-Type": "application/json"})
        response = self.conn.getresponse()
        return response.read(), response.status

    def _failed(self, exc: BaseException, started: float) -> tuple[int, float, None]:
        self.close()
        self.failure = type(exc).__name__
        return 0, (time.perf_counter() - started) * 1000, None

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def _sequential(url: str, questions: list[str], passes: int) -> dict[str, Any]:
    client = _Client(url)
    per_pass: list[dict[str, float | None]] = []
    errors = 0
    for _ in range(passes):
        latencies: list[float] = []
        server_ms: list[float] = []
        for question in questions:
            status, ms, took = client.ask(question)
            if status != 200:
                errors += 1
                continue
            latencies.append(ms)
            if took is not None:
                server_ms.append(took)
        per_pass.append({"p50_ms": _pct(latencies, 50), "p95_ms": _pct(latencies, 95),
                         "server_p50_ms": _pct(server_ms, 50)})
    client.close()
    return {"passes": per_pass, "errors": errors, "requests": passes * len(questions),
            **{key: _median([p[key] for p in per_pass]) for key in per_pass[0]}}


def _load(url: str, questions: list[str], concurrency: int, duration: float, pid: int | None) -> dict[str, Any]:
    cpu_before = cpu_seconds(pid) if pid else None
    deadline = time.monotonic() + duration
    lock = threading.Lock()
    latencies: list[float] = []
    errors: dict[str, int] = {}
    retries: list[int] = []

    def client_loop(offset: int) -> None:
        client = _Client(url)
        i = offset
        while time.monotonic() < deadline:
            status, ms, _ = client.ask(questions[i % len(questions)])
            i += 1
            with lock:
                if status == 200:
                    latencies.append(ms)
                else:
                    key = str(status) if status else client.failure
                    errors[key] = errors.get(key, 0) + 1
        client.close()
        with lock:
            retries.append(client.retries)

    started = time.monotonic()
    threads = [threading.Thread(target=client_loop, args=(n * 7,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    # CPU the server spent per answered request: unlike req/s, barely moved by other programs on shared cores
    cpu_ms = None
    if pid and cpu_before is not None and latencies:
        cpu_ms = round((cpu_seconds(pid) - cpu_before) * 1000 / len(latencies), 1)
    return {"concurrency": concurrency, "seconds": round(elapsed, 1), "ok": len(latencies), "cpu_ms": cpu_ms,
            "errors": sum(errors.values()), "errors_by_status": errors, "retries": sum(retries),
            "requests_per_s": round(len(latencies) / elapsed, 2),
            "p50_ms": _pct(latencies, 50), "p95_ms": _pct(latencies, 95)}


def _report(args: argparse.Namespace, results: dict[str, Any]) -> int:
    seq, ceiling = results["sequential"], results["ceiling"]
    layout = {k: results[k] for k in ("workers", "threads", "omp_threads", "omp_wait_policy", "batch_max",
                                      "batch_wait_ms")}
    print(f"\n{results['url']}  cpus={results['cpus']}  load average before={results['loadavg_before']:.2f}  "
          + "  ".join(f"{k}={'default' if v is None else v}" for k, v in layout.items()))
    after = results["ceiling_after"]
    print(f"encode-bound ceiling: {ceiling['cpus']} cores x 1 / {ceiling['encode_ms']} ms (median single-threaded "
          f"encode) = {ceiling['queries_per_s']} questions/s (after the load: {after['encode_ms']} ms, "
          f"{after['queries_per_s']} questions/s; load average {results['loadavg_after']:.2f})")
    ratio = seq["p50_ms"] / ceiling["encode_ms"] if seq["p50_ms"] else float("nan")
    print(f"sequential /api/ask ({seq['requests']} requests, median of {len(seq['passes'])} passes): "
          f"p50 {seq['p50_ms']} ms ({ratio:.2f}x one encode), p95 {seq['p95_ms']} ms "
          f"(server-side p50 {seq['server_p50_ms']} ms), errors {seq['errors']}")
    print(f"CPU of one single-threaded encode: {ceiling['encode_cpu_ms']} ms (after the load: "
          f"{after['encode_cpu_ms']} ms)")
    print(f"{'clients':>8}{'req/s':>9}{'x ceiling':>11}{'ok':>7}{'errors':>8}{'p50 ms':>9}{'p95 ms':>9}"
          f"{'CPU ms/req':>12}{'x encode CPU':>14}")
    for load in results["load"]:
        share = load["requests_per_s"] / ceiling["queries_per_s"]
        cpu = load["cpu_ms"]
        per_encode = f"{cpu / ceiling['encode_cpu_ms']:.2f}" if cpu else "-"
        print(f"{load['concurrency']:>8}{load['requests_per_s']:>9}{share:>11.2f}{load['ok']:>7}"
              f"{load['errors']:>8}{load['p50_ms']!s:>9}{load['p95_ms']!s:>9}{cpu or '-'!s:>12}{per_encode:>14}"
              f"{_by_status(load['errors_by_status'])}"
              + (f" ({load['retries']} resent on a new connection)" if load.get("retries") else ""))
    for when in ("memory_before", "memory_after"):
        if results[when]:
            print(f"\n{when.replace('_', ' ')} (MiB)\n{'role':8}{'pid':>8}{'RSS':>9}{'PSS':>9}{'shared':>9}"
                  f"{'private':>9}")
            for p in results[when]:
                print(f"{p['role']:8}{p['pid']:>8}{p['rss_mib']:>9}{p['pss_mib']:>9}{p['shared_mib']:>9}"
                      f"{p['private_mib']:>9}")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    return 1 if seq["errors"] or any(load["errors"] for load in results["load"]) else 0


def _by_status(errors: dict[str, int]) -> str:
    return f" ({', '.join(f'{status}: {n}' for status, n in errors.items())})" if errors else ""


def _pct(values: list[float], pct: float) -> float | None:
    """Nearest-rank percentile."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)], 1)


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 1) if present else None




if __name__ == "__main__":
    sys.exit(main())
