"""How the index scales: build a synthetic index of N chunks through the same writer as `qa index`, then measure it.

    python bench/bench_scale.py --chunks 10000
    python bench/bench_scale.py --chunks 1000000 --json .cache/scale-1m.json

SYNTHETIC DATA. The text is real Chinese: DRCD paragraphs cut into sentences and recombined (each chunk takes 3-6
sentences of one paragraph and one of another, each document carries a unique code word), tokenised with jieba like
any corpus. The vectors are NOT model embeddings: they are deterministic pseudo-random unit vectors with a topic
structure (each chunk = its paragraph's topic vector + noise; each sentence = its chunk's vector + noise), so that
N = 1,000,000 builds in minutes on 2 cores. Questions are 200 real DRCD questions with a synthetic query vector (the
vector of a chunk of the question's paragraph, plus noise), so the ask latency leaves the model out; the model's own
cost per question is measured separately on the same question texts.

Measured, each in a fresh process: load time (open + verify the build, as a worker does), RSS and PSS of 2 forked
workers after 100 questions each, in-process ask p50/p95 (ranking + answer, no encode), recall@10 of the dense ANN
index against exact search on the query vectors, and the index size on disk.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from servers import kb_fields, mib

ROOT = Path(__file__).resolve().parent.parent
DRCD = ROOT.parent / "shared" / "bench" / "drcd"
DIM = 384
N_QUESTIONS = 200


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command")
    parser.add_argument("--chunks", type=int, default=10_000)
    parser.add_argument("--out", type=Path, help="index directory (default .cache/scale-<N>)")
    parser.add_argument("--drcd", type=Path, default=DRCD)
    parser.add_argument("--keep", action="store_true", help="reuse an index already built in --out")
    parser.add_argument("--json", type=Path)
    for name in ("load", "workers", "ask", "recall", "encode"):
        p = sub.add_parser(name)  # internal: one measurement in a fresh process
        p.add_argument("index_dir", type=Path)
    args = parser.parse_args()
    if args.command:
        print(json.dumps(MEASURES[args.command](args.index_dir)))
        return 0
    out = args.out or ROOT / ".cache" / f"scale-{args.chunks}"
    result: dict[str, Any] = {"chunks": args.chunks, "synthetic_vectors": True}
    if not (args.keep and (out / "current").exists()):
        shutil.rmtree(out, ignore_errors=True)
        (out / "build.json").write_text(json.dumps(build(out, args.chunks, args.drcd)), encoding="utf-8")
    result["build"] = json.loads((out / "build.json").read_text(encoding="utf-8"))
    for name in ("load", "workers", "ask", "recall", "encode"):
        result[name] = _fresh(name, out)
    result["disk_mib"] = round(sum(f.stat().st_size for f in (out / "current").resolve().rglob("*")
                                   if f.is_file()) / 2**20, 1)
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0


def _fresh(command: str, index_dir: Path) -> dict[str, Any]:
    done = subprocess.run([sys.executable, __file__, command, str(index_dir)], capture_output=True, text=True,
                          check=True, env={**os.environ, "QA_INDEX_DIR": str(index_dir)})
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- building -----------------------------------------------------------------------------------------------------

def build(out: Path, n_chunks: int, drcd: Path) -> dict[str, Any]:
    from synthetic import SyntheticCorpus

    from qa.config import Settings
    from qa.index import directory
    from qa.index.manifest import Chunking, CorpusInfo, Manifest, ModelInfo
    from qa.index.writer import BuildWriter

    started = time.perf_counter()
    corpus = SyntheticCorpus(drcd, DIM)
    settings = Settings.load(index_dir=out)
    path = directory.new_build_dir(out)
    writer = BuildWriter(path, DIM)
    for doc, chunks, spans, tokens in corpus.documents(n_chunks, writer.token_ids):
        writer.add_document(doc, chunks, spans, tokens)
    texts_done = time.perf_counter()
    writer.start_vectors()
    for first, count, topics in corpus.chunk_topics(writer):
        vectors = corpus.chunk_vectors(first, count, topics)
        writer.put_chunk_vectors(first, vectors)
        writer.put_sentence_vectors(*corpus.sentence_vectors(writer, first, count, vectors))
    vectors_done = time.perf_counter()
    dense = writer.finish(settings.ann_threshold, settings.ann_nprobe)
    # corpus "synthetic": no corpus directory to fingerprint (the topics count is in this script's report)
    directory.write_manifest(path, Manifest(
        backend="local", model=ModelInfo(spec=settings.model, id=_model_id(settings.model), dim=DIM),
        chunking=Chunking(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap),
        corpus=CorpusInfo(dir="synthetic", fingerprint="synthetic", cjk=True, faq_entries=0,
                          documents=writer.n_documents, chunks=writer.n_chunks, sentences=writer.n_sentences),
        dense=dense, sentence_dtype="float16", built_at=time.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        build_seconds=round(time.perf_counter() - started, 1)))
    directory.swap_in(out, path, settings.build_grace_seconds)
    questions = corpus.questions(N_QUESTIONS, path, drcd)
    (out / "questions.json").write_text(json.dumps(questions), encoding="utf-8")
    return {"seconds": round(time.perf_counter() - started, 1), "texts_seconds": round(texts_done - started, 1),
            "vectors_seconds": round(vectors_done - texts_done, 1),
            "finish_seconds": round(time.perf_counter() - vectors_done, 1), "documents": writer.n_documents,
            "sentences": writer.n_sentences, "dense": dense.kind, "topics": corpus.n_topics}


def _model_id(spec: str) -> str:
    from qa.encoders import load_embedder

    return load_embedder(spec).model_id  # loading maps the weights; nothing is encoded


# --- measurements, each run in a fresh process ---------------------------------------------------------------------

def _open(index_dir: Path) -> Any:
    from qa.backends.local import LocalReader
    from qa.config import Settings
    from qa.encoders import load_embedder
    from qa.index import directory
    from qa.live import open_build

    # The vectors are synthetic: load whichever model the build recorded, only to pass the manifest checks.
    settings = Settings.load(index_dir=index_dir, model=directory.read_current_manifest(index_dir).model.spec)
    embedder = load_embedder(settings.model)
    started = time.perf_counter()
    loaded = open_build(settings, directory.resolve_current(index_dir).name, embedder)
    assert isinstance(loaded.retriever.index, LocalReader)
    return loaded, time.perf_counter() - started


def _questions(index_dir: Path) -> list[dict[str, Any]]:
    return list(json.loads((index_dir / "questions.json").read_text(encoding="utf-8")))


def _ask(retriever: Any, question: dict[str, Any]) -> float:
    from qa.query import faqhits
    from qa.query.answer import build_answer

    started = time.perf_counter()
    query = retriever.prepare(question["question"], vector=np.asarray(question["vector"], dtype=np.float32))
    build_answer(retriever, query, faqhits.examine(query, retriever.rank(query, 5, "hybrid")), retriever.fitted.answer)
    return (time.perf_counter() - started) * 1000


def measure_load(index_dir: Path) -> dict[str, Any]:
    _, seconds = _open(index_dir)
    return {"seconds": round(seconds, 2)}


def measure_ask(index_dir: Path) -> dict[str, Any]:
    loaded, _ = _open(index_dir)
    questions = _questions(index_dir)
    for question in questions[:20]:  # first touches of the mapped pages
        _ask(loaded.retriever, question)
    times = sorted(_ask(loaded.retriever, q) for q in questions)
    return {"p50_ms": round(statistics.median(times), 1), "p95_ms": round(times[int(0.95 * (len(times) - 1))], 1)}


def measure_workers(index_dir: Path) -> dict[str, Any]:
    """Load once, fork 2 workers (as gunicorn does), each answers 100 questions, then read their memory."""
    from qa.tokens import tokenize

    loaded, _ = _open(index_dir)
    questions = _questions(index_dir)
    tokenize(questions[0]["question"])  # jieba's dictionary, loaded before the fork as `qa serve` does
    pids, ready, measured, go = [], [], [], []
    for w in range(2):
        ready_r, ready_w = os.pipe()
        out_r, out_w = os.pipe()
        go_r, go_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            for question in questions[w * 100:(w + 1) * 100]:
                _ask(loaded.retriever, question)
            os.write(ready_w, b"1")
            os.read(go_r, 1)  # both workers are measured while both are alive, as under gunicorn
            os.write(out_w, json.dumps(_memory(os.getpid())).encode())
            os._exit(0)
        pids.append(pid)
        ready.append(ready_r)
        measured.append(out_r)
        go.append(go_w)
    for fd in ready:
        os.read(fd, 1)
    for fd in go:
        os.write(fd, b"1")
    workers = [json.loads(os.read(fd, 4096)) for fd in measured]
    for pid in pids:
        os.waitpid(pid, 0)
    return {"workers": workers, "pss_mib_total": round(sum(w["pss_mib"] for w in workers), 1),
            "pss_anon_mib_total": round(sum(w["pss_anon_mib"] for w in workers), 1),
            "master": _memory(os.getpid())}


def _memory(pid: int) -> dict[str, float]:
    fields = kb_fields(Path(f"/proc/{pid}/smaps_rollup"))
    # Pss_File is the share of mapped index pages (page cache, shared and reclaimable); Pss_Anon is private heap.
    return {name.lower() + "_mib": mib(fields[name]) for name in ("Rss", "Pss", "Pss_Anon", "Pss_File")}


def measure_recall(index_dir: Path) -> dict[str, Any]:
    loaded, _ = _open(index_dir)
    dense = loaded.retriever.index.files.dense
    if dense.kind == "exact":
        return {"kind": "exact", "recall_at_10": 1.0}
    recalls = []
    for question in _questions(index_dir):
        vector = np.asarray(question["vector"], dtype=np.float32)
        approx = {r for r, _ in dense.search(vector, 10)}
        exact = {r for r, _ in dense.search(vector, 10, exact=True)}
        recalls.append(len(approx & exact) / 10)
    return {"kind": dense.kind, "recall_at_10": round(float(np.mean(recalls)), 4)}


def measure_encode(index_dir: Path) -> dict[str, Any]:
    """The model's own cost per question (left out of the ask figure): one real encode per question text."""
    from qa.config import Settings
    from qa.encoders import load_embedder

    embedder = load_embedder(Settings.load().model)
    texts = [q["question"] for q in _questions(index_dir)][:100]
    embedder.encode_queries(texts[:5])
    times = []
    for text in texts:
        started = time.perf_counter()
        embedder.encode_queries([text])
        times.append((time.perf_counter() - started) * 1000)
    return {"p50_ms": round(statistics.median(times), 1)}


MEASURES = {"load": measure_load, "workers": measure_workers, "ask": measure_ask, "recall": measure_recall,
            "encode": measure_encode}

if __name__ == "__main__":
    sys.exit(main())
