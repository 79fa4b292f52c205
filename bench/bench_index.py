"""Index build speed (cold cache, then warm cache) and in-process search latency per mode.

    python bench/bench_index.py --corpus corpus --questions eval/seed_dev.jsonl
    python bench/bench_index.py --corpus .cache/drcd/corpus --questions .cache/drcd/questions.jsonl \\
        --index-dir .cache/drcd/index --skip-cold --limit 1000

The cold build uses an empty embedding cache in a temporary directory (unless --skip-cold); the warm rebuild reuses
it, so it measures everything but the embedding. Before the cold build the same run times the raw embedder on exactly
the texts a cold build embeds (chunks and sentences, `encode_passages` in batches of 16, nothing else), and again
right after it, and reports the build's throughput as a ratio to the mean of the two: the share of the build that is
not embedding shows up as a ratio below 1.
Latency is the median and 95th percentile of `QAService.search`
and `QAService.ask` over the question file, after one warm-up call, in this process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from qa.chunking import ChunkSettings, chunk_document, split_sentences
from qa.config import Settings
from qa.corpus import load_corpus
from qa.encoders import load_embedder, passage_text
from qa.evaluation import load_questions
from qa.index.build import build_index
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


def raw_embedder(settings: Settings) -> dict[str, float]:
    """Texts per second of the bare model on the texts a cold build of this corpus embeds."""
    documents = load_corpus(settings.corpus_dir)
    chunk_settings = ChunkSettings(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap)
    chunks = [c for doc in documents for c in chunk_document(doc, chunk_settings)]
    texts = [passage_text(c.match_text) for c in chunks]
    texts += [passage_text(c.text[s - c.start:e - c.start]) for doc in documents
              for c in chunk_document(doc, chunk_settings) for s, e in split_sentences(doc.text, c.start, c.end)]
    embedder = load_embedder(settings.model)
    started = time.perf_counter()
    embedder.encode_passages(texts, batch_size=16)
    seconds = time.perf_counter() - started
    return {"texts": len(texts), "seconds": round(seconds, 1), "texts_per_s": round(len(texts) / seconds, 2)}


def _ratio(results: dict[str, Any]) -> float:
    # The machine is shared: the mean of the raw rate just before and just after the build is the baseline.
    raw = (results["raw_embedder_before"]["texts_per_s"] + results["raw_embedder_after"]["texts_per_s"]) / 2
    return round(results["build_cold"]["texts_per_s"] / raw, 3)


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

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        index_dir = args.index_dir or Path(tmp) / "index"
        settings = Settings.load(corpus_dir=args.corpus, index_dir=index_dir,
                                 cache_dir=args.cache_dir if args.skip_cold else Path(tmp) / "cache")
        runs = ["warm"] if args.skip_cold else ["cold", "warm"]
        for run in runs:
            if run == "cold":  # the raw embedder right before the cold build, and again right after it
                results["raw_embedder_before"] = raw_embedder(settings)
            report = build_index(settings)
            results[f"build_{run}"] = {"documents": report.documents, "chunks": report.chunks,
                                       "sentences": report.sentences, "seconds": round(report.seconds, 1),
                                       "chunks_per_s": round(report.chunks_per_second, 1),
                                       "cache_hits": report.cache_hits, "embedded": report.embedded,
                                       "texts_per_s": round(report.embedded / report.seconds, 2)}
            print(f"{run:5} {report.summary()}")
            if run == "cold":
                results["raw_embedder_after"] = raw_embedder(settings)
                results["cold_build_vs_raw_embedder"] = _ratio(results)
                print(f"cold build throughput / raw embedder throughput (mean of before and after): "
                      f"{results['cold_build_vs_raw_embedder']}")
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
