"""The offline rebuild: corpus → chunks, sentences and tokens → embeddings streamed to disk (cached) + BM25 →
a new build directory swapped in. Memory holds one document and one batch of texts at a time."""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from qa import __version__, faq
from qa.chunking import ChunkSettings, chunk_document, chunk_sentences
from qa.config import Settings
from qa.corpus import corpus_fingerprint, document_digest, iter_corpus
from qa.documents.model import ReadOptions
from qa.encoders import PASSAGE_TEXT_VERSION, Embedder, load_embedder, passage_text
from qa.errors import CorpusError, QAError
from qa.index import directory
from qa.index.cache import CachedEncoder, EmbeddingCache
from qa.index.docstore import DocStore
from qa.index.layout import DOCS
from qa.index.manifest import Chunking, CorpusFiles, CorpusInfo, Manifest, ModelInfo, SkippedFile
from qa.index.progress import duration
from qa.index.writer import BuildWriter
from qa.inventory import Inventory
from qa.script import mostly_cjk
from qa.tokens import tokenize

# Given the total number of texts to embed, returns the callback that receives how many were just done.
ProgressFactory = Callable[[int], Callable[[int], None]]
Notice = Callable[[str], None]

TEXT_BATCH = 32768  # texts per step: read, hashed, embedded (e5-torch sorts them by length) and written
PROBE_TEXTS = 16  # texts embedded before the build starts, to estimate its duration
SLOW_DOCUMENT_SECONDS = 180  # warn about a document that alone takes longer than this to embed
_SCRIPT_SAMPLE_CHARS = 20_000
EXAMPLE_QUESTIONS = 4
EXTRACT_CACHE = "extract-cache.sqlite"  # beside the embedding cache (qa.documents.cache)


@dataclass(frozen=True)
class BuildReport:
    documents: int
    chunks: int
    sentences: int
    seconds: float
    embedded: int
    cache_hits: int
    build_id: str = ""
    files: str = ""  # what was read of the corpus directory and what was skipped (qa.inventory)

    @property
    def chunks_per_second(self) -> float:
        return self.chunks / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        return (f"indexed {self.documents} documents, {self.chunks} chunks ({self.sentences} sentences) in "
                f"{self.seconds:.1f} s, {self.chunks_per_second:.1f} chunks/s, "
                f"{self.cache_hits} of {self.embedded} embeddings from cache; build {self.build_id}"
                + (f"; {self.files}" if self.files else ""))


@dataclass(frozen=True)
class Encoders:
    """Passages and sentences are embedded as passages; an FAQ entry's questions as questions, like the questions
    asked (e5's "query: " prefix on both sides: paraphrase recall@1 on LCQMC dev-faq 0.942 against 0.920 with the
    passage prefix, see docs/design.md, "FAQ entries")."""

    passages: CachedEncoder
    questions: CachedEncoder

    def keys(self, texts: list[str], asks: np.ndarray) -> list[str]:
        return [(self.questions if a else self.passages).key(t) for t, a in zip(texts, asks.tolist(), strict=True)]

    def encode(self, texts: list[str], asks: np.ndarray, update: Callable[[int], None] | None) -> np.ndarray:
        out = np.zeros((len(texts), self.passages.embedder.dim), dtype=np.float32)
        for encoder, mask in ((self.passages, ~asks), (self.questions, asks)):
            if mask.any():
                out[mask] = encoder.encode([t for t, m in zip(texts, mask.tolist(), strict=True) if m], update)[0]
        return out


def build_index(settings: Settings, progress: ProgressFactory | None = None, embedder: Embedder | None = None,
                notice: Notice | None = None) -> BuildReport:
    """Build a complete index in a new directory and swap it in; on any failure the previous index keeps serving."""
    started = time.perf_counter()
    embedder = embedder or load_embedder(settings.model)
    say = notice or (lambda _: None)
    with directory.build_lock(settings.index_dir), \
            EmbeddingCache(settings.cache_path, embedder.model_id, embedder.dim) as cache:
        build = directory.new_build_dir(settings.index_dir)
        try:
            writer = BuildWriter(build, embedder.dim, settings.sentence_dtype)
            inventory = Inventory()
            corpus = _read_corpus(settings, writer, say, inventory)
            writer.start_vectors()
            encoder = Encoders(*(CachedEncoder(embedder, cache, group_size=TEXT_BATCH, prepare=passage_text,
                                               prepare_version=PASSAGE_TEXT_VERSION, queries=queries)
                                 for queries in (False, True)))
            hits = _plan(writer, encoder, say)
            _embed(writer, encoder, progress(writer.n_chunks + writer.n_sentences) if progress else None)
            dense = writer.finish(settings.ann_threshold, settings.ann_nprobe)
            directory.write_manifest(build, Manifest(
                backend=settings.backend,  # `qa index --backend milvus` then publishes it
                model=ModelInfo(spec=settings.model, id=embedder.model_id, dim=embedder.dim),
                chunking=Chunking(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap),
                corpus=CorpusInfo(dir=str(settings.corpus_dir), fingerprint=corpus.fingerprint, cjk=corpus.cjk,
                                  faq_entries=corpus.faq_entries, documents=writer.n_documents,
                                  chunks=writer.n_chunks, sentences=writer.n_sentences,
                                  files=corpus_files(inventory), example_questions=corpus.example_questions),
                dense=dense, sentence_dtype=settings.sentence_dtype,
                built_at=datetime.now(UTC).isoformat(timespec="seconds"),
                build_seconds=round(time.perf_counter() - started, 2),
            ))
            directory.swap_in(settings.index_dir, build, settings.build_grace_seconds)
        except BaseException:
            shutil.rmtree(build, ignore_errors=True)
            raise
    return BuildReport(documents=writer.n_documents, chunks=writer.n_chunks, sentences=writer.n_sentences,
                       seconds=time.perf_counter() - started, embedded=writer.n_chunks + writer.n_sentences,
                       cache_hits=hits, build_id=build.name, files=inventory.summary())


def up_to_date(settings: Settings) -> Manifest | None:
    """The current build's manifest when a rebuild would make the same build (the same documents, every field, and
    the same model, chunking, storage, dense-search settings, backend and qa version), else None. Reads the corpus
    without chunking or embedding it: seconds where a rebuild takes minutes."""
    try:
        made = directory.read_current_manifest(settings.index_dir)
    except QAError:  # no index, or one this qa cannot read: build one
        return None
    nprobe = made.dense.nprobe if made.dense.nprobe is not None else settings.ann_nprobe  # exact search: any
    if (made.model.spec, made.chunking, made.sentence_dtype, made.backend, made.package_version,
            made.dense.ann_threshold, nprobe) != (
            settings.model, Chunking(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap),
            settings.sentence_dtype, settings.backend, __version__, settings.ann_threshold, settings.ann_nprobe):
        return None
    fingerprint = corpus_fingerprint(document_digest(doc) for doc in iter_corpus(
        settings.corpus_dir, options=read_options(settings)))
    return made if fingerprint == made.corpus.fingerprint else None


def read_options(settings: Settings) -> ReadOptions:
    """How PDFs, Office files and images are read: OCR on or off, extracted texts cached beside the embeddings."""
    return ReadOptions(ocr=settings.ocr == "on", cache_path=settings.cache_path.parent / EXTRACT_CACHE)


def corpus_files(inventory: Inventory) -> CorpusFiles:
    """The manifest's account of the corpus directory: files read by kind, pages, OCR, each skipped file."""
    return CorpusFiles(read=dict(sorted(inventory.read.items())), pages=inventory.pages,
                       ocr_pages=inventory.ocr_pages, ocr_seconds=round(inventory.ocr_seconds, 2),
                       skipped=[SkippedFile(s.path, s.reason) for s in inventory.skipped])


@dataclass(frozen=True)
class _CorpusRead:
    """What reading the corpus learnt for the manifest."""

    fingerprint: str
    cjk: bool
    faq_entries: int
    example_questions: list[str]


def _read_corpus(settings: Settings, writer: BuildWriter, say: Notice, inventory: Inventory) -> _CorpusRead:
    """Phase 1: every document's chunks, sentence spans and BM25 tokens go to the writer, one document at a time."""
    chunk_settings = ChunkSettings(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap)
    digests: list[str] = []
    sample: list[str] = []
    sampled = 0
    faq_entries = 0
    examples: list[str] = []  # the page's example questions: the first FAQ entries' questions
    for doc in iter_corpus(settings.corpus_dir, say, options=read_options(settings), inventory=inventory):
        chunks = chunk_document(doc, chunk_settings)
        spans = [chunk_sentences(doc, c) for c in chunks]
        tokens = [writer.token_ids(tokenize(c.match_text)) for c in chunks]
        writer.add_document(doc, chunks, [s for s, _ in spans], tokens, questions=spans[0][1] if spans else 0)
        faq_entries += doc.kind == "faq"
        if doc.kind == "faq" and len(examples) < EXAMPLE_QUESTIONS:
            examples.append(faq.one_line(doc.text[slice(*faq.question_spans(doc.text)[0])]))
        digests.append(document_digest(doc))
        if sampled < _SCRIPT_SAMPLE_CHARS:
            sample.extend(c.text for c in chunks)
            sampled += sum(len(c.text) for c in chunks)
    if not writer.n_chunks:
        raise CorpusError(f"the corpus in {settings.corpus_dir} has headings but no body text to index; "
                          f"add paragraphs under the headings")
    # The corpus's script tells the ranking when a question is cross-lingual (see qa.query.retrieval).
    return _CorpusRead(corpus_fingerprint(digests), mostly_cjk("".join(sample)), faq_entries, examples)


def _plan(writer: BuildWriter, encoder: Encoders, say: Notice) -> int:
    """Count what the cache holds, embed a few texts to measure the rate, announce the estimate; returns hits."""
    hits = 0
    miss_chars: Counter[int] = Counter()
    probe: list[str] = []
    for sentences, batches in ((False, writer.chunk_batches(TEXT_BATCH)), (True, writer.sentence_batches(TEXT_BATCH))):
        for first, texts, docs in batches:
            keys = encoder.keys(texts, writer.asks(first, len(texts)) if sentences else np.zeros(len(texts), bool))
            cached = encoder.passages.cache.has_many(keys)
            for key, text, doc in zip(keys, texts, docs.tolist(), strict=True):
                if key in cached:
                    hits += 1
                    continue
                miss_chars[doc] += len(text)
                if len(probe) < PROBE_TEXTS:
                    probe.append(text)
    total = writer.n_chunks + writer.n_sentences
    if not probe:
        say(f"embedding {total} texts: all {hits} from the cache")
        return hits
    started = time.perf_counter()
    encoder.passages.encode(probe)
    rate = sum(len(t) for t in probe) / max(time.perf_counter() - started, 1e-6)  # characters per second
    say(f"embedding {total} texts: {hits} from the cache, {total - hits} to embed "
        f"({sum(miss_chars.values())} characters); estimated {duration(sum(miss_chars.values()) / rate)} "
        f"at {rate:.0f} characters/s")
    slow = {doc: chars for doc, chars in miss_chars.items() if chars / rate > SLOW_DOCUMENT_SECONDS}
    if slow:
        names = _doc_ids(writer, list(slow))
        for doc, chars in sorted(slow.items(), key=lambda item: -item[1]):
            say(f"warning: document {names[doc]!r} alone has {chars} characters to embed, about "
                f"{duration(chars / rate)}; split it into smaller files to see it sooner in results of a rebuild")
    return hits


def _doc_ids(writer: BuildWriter, idxs: list[int]) -> dict[int, str]:
    docs = DocStore(writer.path / DOCS)
    try:
        return docs.doc_ids(idxs)
    finally:
        docs.close()


def _embed(writer: BuildWriter, encoder: Encoders, update: Callable[[int], None] | None) -> None:
    """Phase 2: vectors of chunks, then sentences, written to the build's files batch by batch."""
    for first, texts, _ in writer.chunk_batches(TEXT_BATCH):
        vectors, _ = encoder.passages.encode(texts, update)
        writer.put_chunk_vectors(first, vectors)
    for first, texts, _ in writer.sentence_batches(TEXT_BATCH):
        writer.put_sentence_vectors(first, encoder.encode(texts, writer.asks(first, len(texts)), update))
