"""Index build speed (cold cache, then warm cache) and in-process search latency per mode.

    python bench/bench_index.py --corpus corpus --questions eval/seed_dev.jsonl
    python bench/bench_index.py --corpus .cache/drcd/corpus --questions .cache/drcd/questions.jsonl \\
        --index-dir .cache/drcd/index --skip-cold --limit 1000

The cold build uses an empty embedding cache in a temporary directory (unless --skip-cold); the warm rebuild reuses
it, so it measures everything but the embedding. Latency is the median and 95th percentile of `QAService.search`
and `QAService.ask` over the question file, after one warm-up call, in this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from qa.config import Settings
from qa.evaluation import load_questions
from qa.indexing import build_index
from qa.service import QAService


def percentiles(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {"p50_ms": round(statistics.median(ordered), 1),
            "p95_ms": round(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))], 1)}


def time_calls(call, questions: list[str]) -> dict[str, float]:
    call(questions[0])
    laps = []
    for q in questions:
        started = time.perf_counter()
        call(q)
        laps.append((time.perf_counter() - started) * 1000)
    return percentiles(laps)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=Path("corpus"))
    parser.add_argument("--questions", type=Path, default=Path("eval/seed_dev.jsonl"))
    parser.add_argument("--index-dir", type=Path, help="build here (default: a temporary directory)")
    parser.add_argument("--skip-cold", action="store_true", help="only the warm rebuild (uses the index's cache)")
    parser.add_argument("--cache-dir", type=Path, help="with --skip-cold: the embedding cache the index was built with")
    parser.add_argument("--limit", type=int, help="time only the first N questions")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        settings = Settings.load(corpus_dir=args.corpus, index_dir=index_dir,
                                 cache_dir=args.cache_dir if args.skip_cold else Path(tmp) / "cache")
        runs = ["warm"] if args.skip_cold else ["cold", "warm"]
        for run in runs:
            report = build_index(settings)
            results[f"build_{run}"] = {"documents": report.documents, "chunks": report.chunks,
                                       "sentences": report.sentences, "seconds": round(report.seconds, 1),
                                       "chunks_per_s": round(report.chunks_per_second, 1),
                                       "cache_hits": report.cache_hits, "embedded": report.embedded}
            print(f"{run:5} {report.summary()}")
        service = QAService.load(settings)
        questions = [q.question for q in load_questions(args.questions)][: args.limit]
        for mode in ("bm25", "dense", "hybrid"):
            results[f"search_{mode}"] = time_calls(lambda q, m=mode: service.search(q, 5, m), questions)
        results["ask"] = time_calls(service.ask, questions)
    for name, value in results.items():
        if name.startswith(("search", "ask")):
            print(f"{name:14} p50 {value['p50_ms']:7.1f} ms   p95 {value['p95_ms']:7.1f} ms   "
                  f"({len(questions)} questions)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
