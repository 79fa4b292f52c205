"""The question-answering service: loads the model and index once, answers and searches, returns typed results."""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np

from qa import backends
from qa.config import Settings
from qa.corpus import Document
from qa.encoders import Embedder, load_embedder
from qa.errors import DocumentNotFoundError
from qa.live import LiveIndex, check_manifest
from qa.query import faqhits, verify
from qa.query.answer import Answer, AnswerParams, build_answer
from qa.query.ranking import RankingParams
from qa.query.retrieval import Hit, Mode, Retriever
from qa.query.sources import sources as sources_of
from qa.requests import DEFAULT_TOP_K, AskRequest, SearchParams, read_body
from qa.results import AskResult, Health, Quote, SearchResult, Source, Suggestion


class QAService:
    """Answers from whichever build the LiveIndex currently serves; each call leases one build throughout."""

    def __init__(self, live: LiveIndex, settings: Settings, answer_params: AnswerParams | None = None):
        self.live = live
        self.settings = settings
        self.answer_params = answer_params  # None: those fitted for the model (qa/fitted/), else neutral ones

    @classmethod
    def load(cls, settings: Settings, ranking: RankingParams | None = None,
             answer_params: AnswerParams | None = None,
             wrap: Callable[[Embedder], Embedder] | None = None) -> QAService:
        """Check the index against the configured model, then load both; never encodes (fork safety).

        wrap, if given, wraps the loaded model for every build served (e.g. the server's micro-batcher)."""
        # before loading a model the index cannot use
        chosen = backends.backend(settings)
        build_id = chosen.current_build(settings)
        check_manifest(chosen.manifest(settings, build_id), chosen.describe(settings), settings)
        embedder = load_embedder(settings.model)
        return cls(LiveIndex(settings, wrap(embedder) if wrap else embedder, ranking), settings, answer_params)

    @property
    def retriever(self) -> Retriever:
        """The current build's retriever, for offline tools (a request leases its build instead)."""
        return self.live.get().retriever

    def ask(self, question: str, top_k: int = DEFAULT_TOP_K, mode: Mode = "hybrid",
            vector: np.ndarray | None = None) -> AskResult:
        """Check the question (qa.requests, as the API does), then answer it."""
        return self.answer(read_body(AskRequest, {"question": question, "top_k": top_k}, self.settings), mode, vector)

    def answer(self, asked: AskRequest, mode: Mode = "hybrid", vector: np.ndarray | None = None) -> AskResult:
        """vector: the question's embedding when the caller has it already (e.g. from a cache), else encoded."""
        started = time.perf_counter()
        text = asked.question
        with self.live.lease() as loaded:
            retriever = loaded.retriever
            query = retriever.prepare(text, vector)
            hits = retriever.rank(query, asked.top_k, mode)
            # each hit's document and FAQ match, for answer and sources; then the verifier reads the first few
            checked = verify.read(retriever, query, faqhits.examine(query, hits), self.settings.verifier == "on")
            found = verify.with_scores(checked)
            answer = build_answer(retriever, query, found, self.answer_params or retriever.fitted.answer)
            sources = sources_of(query, found)
            fit = retriever.fitted.verifier if self.settings.verifier == "on" else None
            offered = verify.suggestions(checked, fit.params.suggest) if fit and not answer.answered else []
        p = answer.answerability
        return AskResult(question=text, answer=answer.text, answered=answer.answered,
                         answerability=None if p is None else round(p, 4),
                         calibrated=retriever.fitted.calibrated, quotes=quotes(answer, [f.hit for f in found]),
                         matched_question=answer.matched_question, related_questions=related(answer, sources),
                         suggestions=[suggestion(c) for c in offered],
                         sources=sources, took_ms=_ms(started), build_id=loaded.build_id)

    def search(self, query_text: str, k: int = DEFAULT_TOP_K, mode: Mode | str = "hybrid") -> SearchResult:
        """Check the query (qa.requests, as the API does), then rank passages for it."""
        return self.search_for(read_body(SearchParams, {"q": query_text, "k": k, "mode": mode}, self.settings))

    def search_for(self, params: SearchParams) -> SearchResult:
        started = time.perf_counter()
        with self.live.lease() as loaded:
            retriever = loaded.retriever
            query = retriever.prepare(params.q)
            hits = retriever.rank(query, params.k, params.mode)
            results = sources_of(query, faqhits.examine(query, hits))
        return SearchResult(query=params.q, results=results, took_ms=_ms(started))

    def document(self, doc_id: str) -> Document:
        with self.live.lease() as loaded:
            doc = loaded.retriever.index.document(doc_id)
        if doc is None:
            raise DocumentNotFoundError(f"no document {doc_id!r} in the index")
        return doc

    def example_questions(self) -> list[str]:
        """Questions the page offers to try: the corpus's first FAQ questions, else QA_EXAMPLES ("|" between),
        else none (never questions about documents this corpus may not have)."""
        with self.live.lease() as loaded:
            found = loaded.retriever.index.manifest.corpus.example_questions
        return list(found) or [q.strip() for q in self.settings.examples.split("|") if q.strip()]

    def example_document_ids(self, n: int) -> list[str]:
        """Ids of up to n real documents (those of the first chunks), e.g. for the API description's examples."""
        with self.live.lease() as loaded:
            index = loaded.retriever.index
            rows = list(range(min(index.n_chunks, 4 * n)))
            return list(dict.fromkeys(c.doc_id for c in index.chunks(rows)))[:n]

    def health(self) -> Health:
        with self.live.lease() as loaded:
            manifest = loaded.retriever.index.manifest
            return Health(status="ok", documents=manifest.corpus.documents, chunks=manifest.corpus.chunks,
                          model=manifest.model.id, calibrated=loaded.retriever.fitted.calibrated,
                          verifier=loaded.retriever.fitted.verifier is not None and self.settings.verifier == "on",
                          build_id=loaded.build_id, index_built_at=manifest.built_at,
                          loaded_at=loaded.loaded_at, load_seconds=loaded.load_seconds,
                          build_seconds=manifest.build_seconds, index_bytes=manifest.size_bytes, pid=os.getpid(),
                          workers=None)


def related(answer: Answer, sources: list[Source]) -> list[str]:
    """The FAQ sources' matched questions, best first, but the one answering and repeats."""
    asked = {answer.matched_question} if answer.matched_question else set()
    out = [s.matched_question for s in sources if s.matched_question and s.matched_question not in asked]
    return list(dict.fromkeys(out))


def suggestion(checked: verify.Checked) -> Suggestion:
    """An FAQ entry offered instead of an answer: its question the verifier read best, and its id."""
    question = checked.read or (checked.found.match.question if checked.found.match else "")
    return Suggestion(question=question, doc_id=checked.found.doc.doc_id,
                      probability=round(checked.probability or 0.0, 4))


def quotes(answer: Answer, hits: list[Hit]) -> list[Quote]:
    """Where each answer sentence lies in its source's text, in answer order (the i-th [n] marker's sentence)."""
    return [Quote(n=p.source, start=p.start - hits[p.source - 1].chunk.start,
                  end=p.end - hits[p.source - 1].chunk.start) for p in answer.sentences]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

