"""Where a loaded `qa serve` spends its CPU: py-spy samples every worker during an 8-client load on /api/ask.

Run from the repository root (py-spy is a dev dependency; it reads the workers' memory, so run as their user):
    .venv/bin/python bench/profile_api.py [--index-dir index] [--duration 20] [--clients 8] [--top 25]

Starts `qa serve` on a free loopback port (2 workers by default), warms it up, runs the load for --duration seconds
while `py-spy record --nonblocking` samples each worker (idle threads left out, so samples are CPU), stops it, and
prints the share of samples in each part of a request (the first matching frame from the leaf up decides:
encode, ranking, answer, sources, Flask/JSON, HTTP) and the functions with the most samples, inclusive and self.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from bench_api import _load
from servers import children, qa_serve

ROOT = Path(__file__).resolve().parent.parent
# (part, substrings of a frame as py-spy names it, "function (path:line)"); from the leaf up, the first frame that
# matches a part names the sample's part (so jieba under the answerability features counts as tokenising); the
# last part only when no other matches anywhere (a lock wait inside the micro-batcher is the encode's)
PARTS = (
    ("encode (model, micro-batcher)", ("encode_queries", "torch/", "e5torch.py", "e5model.py", "e5tokenizer.py",
                                       "batching.py")),
    ("tokenising, POS tagging, normalising (jieba, OpenCC)", ("jieba/", "opencc", "tokens.py", "normalize.py")),
    ("sources and highlights", ("highlights (", "QAService.sources", "document_info")),
    ("sentences and answer", ("build_answer", "answerability.py", "evidence.py")),
    ("ranking (BM25, dense, index reads)", ("retrieval.py", "ranking.py", "local.py", "npyrows.py", "docstore.py",
                                           "sparse.py", "dense.py", "files.py", "bm25s/", "faiss/", "question.py",
                                           "reader.py", "pymilvus/", "grpc/")),
    ("Flask, JSON, metrics, logs", ("flask/", "werkzeug/", "json/", "dataclasses.py", "api.py", "web.py",
                                    "observe.py", "app.py", "metrics.py", "prometheus_client/", "logs.py",
                                    "logging/", "live.py", "service.py")),
    ("HTTP and gunicorn threads", ("gunicorn/", "socket", "selectors", "concurrent/futures", "threading.py")),
)


def main() -> int:
    args = _parser().parse_args()
    if args.stacks:
        stacks = collections.Counter[tuple[str, ...]]()
        for path in sorted(args.stacks.glob("*.txt")):
            stacks.update(_read(path))
        _report(stacks, args.top)
        return 0
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    questions = [line.split('"question": "', 1)[1].split('"', 1)[0] for line in
                 args.questions.read_text(encoding="utf-8").splitlines() if '"question": "' in line]
    with tempfile.TemporaryDirectory(prefix="qa-profile-") as tmp, \
            qa_serve(Path(tmp), "--index-dir", str(args.index_dir.resolve()), "--workers", str(args.workers),
                     workers=args.workers, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT) as server:
        _load(server.url, questions, args.clients, 3, None)  # warm every thread and connection first
        outputs = [Path(tmp) / f"{pid}.txt" for pid in children(server.process.pid)]
        spies = [subprocess.Popen([spy, "record", "--nonblocking", "--format", "raw", "--rate", str(args.rate),
                                   "--duration", str(int(args.duration)), "--pid", out.stem, "--output", str(out)],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for out in outputs]
        load = _load(server.url, questions, args.clients, args.duration, server.process.pid)
        for spy_process in spies:
            spy_process.wait(timeout=60)
        stacks = collections.Counter[tuple[str, ...]]()
        for out in outputs:
            stacks.update(_read(out))
            if args.keep:
                args.keep.mkdir(parents=True, exist_ok=True)
                shutil.copy(out, args.keep / out.name)
    print(f"{load['ok']} requests in {load['seconds']} s at {args.clients} clients, {load['cpu_ms']} CPU ms per "
          f"request; load average {os.getloadavg()[0]:.1f}; {sum(stacks.values())} samples")
    _report(stacks, args.top)
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, default=ROOT / "index")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "seed_dev.jsonl")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=200, help="samples per second per worker")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--keep", type=Path, help="copy py-spy's raw stacks (one file per worker) into this directory")
    parser.add_argument("--stacks", type=Path, help="only report on the raw stacks kept earlier in this directory")
    return parser


def _read(path: Path) -> collections.Counter[tuple[str, ...]]:
    """py-spy's raw format: `frame;frame;... count` per line, root first."""
    found: collections.Counter[tuple[str, ...]] = collections.Counter()
    if not path.exists():
        raise SystemExit(f"py-spy wrote no {path}: run as the server's user (root in a container) with py-spy "
                         f"installed (pip install py-spy)")
    for line in path.read_text(encoding="utf-8").splitlines():
        stack, _, count = line.rpartition(" ")
        if stack:
            found[tuple(stack.split(";"))] += int(count)
    return found


def part_of(stack: tuple[str, ...]) -> str:
    *specific, (generic, generic_needles) = PARTS
    for frame in reversed(stack):
        for part, needles in specific:
            if any(n in frame for n in needles):
                return part
    return generic if any(n in frame for frame in stack for n in generic_needles) else "other"


# Leaf frames of threads blocked in a call py-spy cannot tell from work (a queue or lock wait, the poll loop): left
# out of the shares, which are then shares of the CPU-bound samples.
IDLE = ("_worker (concurrent/futures/thread.py", "EpollSelector.select (", "Condition.wait (", "Event.wait (",
        "LiveIndex._watch (")


def _report(stacks: collections.Counter[tuple[str, ...]], top: int) -> None:
    idle = sum(n for stack, n in stacks.items() if stack[-1].startswith(IDLE))
    stacks = collections.Counter({s: n for s, n in stacks.items() if not s[-1].startswith(IDLE)})
    total = sum(stacks.values()) or 1
    print(f"{idle} samples of waiting threads left out, {total} samples of work")
    parts: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    for stack, n in stacks.items():
        parts[part_of(stack)] += n
        for frame in set(stack):
            inclusive[_short(frame)] += n
        own[_short(stack[-1])] += n
    print("\nshare of samples by part of a request")
    for part, n in parts.most_common():
        print(f"{100 * n / total:6.1f}%  {part}")
    other: collections.Counter[str] = collections.Counter()
    for stack, n in stacks.items():
        if part_of(stack) == "other":
            other[" < ".join(_short(f) for f in stack[::-1][:3])] += n
    print("\n'other', by its innermost frames")
    for frames, n in other.most_common(8):
        print(f"{100 * n / total:6.1f}%  {frames}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\ntop {top} functions, {title}")
        for frame, n in counter.most_common(top):
            print(f"{100 * n / total:6.1f}%  {frame}")


def _short(frame: str) -> str:
    """`function (path:line)` with the path from site-packages or the repository on, and no line number."""
    name, _, where = frame.partition(" (")
    path = where.rsplit(":", 1)[0]
    for marker in ("site-packages/", str(ROOT) + "/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


if __name__ == "__main__":
    sys.exit(main())
