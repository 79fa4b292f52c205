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
from qa.errors import DocumentNotFoundError, QuestionError
from qa.live import LiveIndex, check_manifest
from qa.query import faqhits
from qa.query.answer import Answer, AnswerParams, build_answer
from qa.query.ranking import RankingParams
from qa.query.retrieval import MODES, Hit, Mode, Retriever
from qa.query.sources import sources as sources_of
from qa.results import AskResult, Health, Quote, SearchResult, Source

MAX_TOP_K = 20


class QAService:
    """Answers from whichever build the LiveIndex currently serves; each call leases one build throughout."""

    def __init__(self, live: LiveIndex, settings: Settings, answer_params: AnswerParams | None = None):
        self.live = live
        self.settings = settings
        self.answer_params = answer_params or AnswerParams()

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

    def validate_question(self, question: object, field: str = "question") -> str:
        if not isinstance(question, str):
            raise QuestionError(f"`{field}` must be a string")
        # The limit counts the question as sent, spaces included, as the OpenAPI schema's maxLength does.
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"`{field}` has {len(question)} characters; the limit is {limit}")
        question = question.strip()
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:
            raise QuestionError(f"`{field}` holds an unpaired surrogate (\\ud800-\\udfff); "
                                "send valid Unicode") from None
        if not question:
            raise QuestionError(f"`{field}` is empty: type a question, for example 付款失败但钱被扣了怎么办？")
        return question

    def ask(self, question: object, top_k: object = 5, mode: Mode = "hybrid",
            vector: np.ndarray | None = None) -> AskResult:
        """vector: the question's embedding when the caller has it already (e.g. from a cache), else encoded."""
        started = time.perf_counter()
        text = self.validate_question(question)
        k = validate_top_k(top_k)
        with self.live.lease() as loaded:
            retriever = loaded.retriever
            query = retriever.prepare(text, vector)
            hits = retriever.rank(query, k, mode)
            found = faqhits.examine(query, hits)  # each hit's document and FAQ match, for answer and sources
            answer = build_answer(retriever, query, found, self.answer_params)
            sources = sources_of(query, found)
        return AskResult(question=text, answer=answer.text, answered=answer.answered,
                         answerability=round(answer.answerability, 4), quotes=quotes(answer, hits),
                         matched_question=answer.matched_question, related_questions=related(answer, sources),
                         sources=sources, took_ms=_ms(started), build_id=loaded.build_id)

    def search(self, query_text: object, k: object = 5, mode: Mode | str = "hybrid") -> SearchResult:
        started = time.perf_counter()
        text = self.validate_question(query_text, "q")
        top_k = validate_top_k(k, "k")
        if mode not in MODES:
            raise QuestionError(f"`mode` must be one of {', '.join(MODES)}")
        with self.live.lease() as loaded:
            retriever = loaded.retriever
            query = retriever.prepare(text)
            hits = retriever.rank(query, top_k, mode)
            results = sources_of(query, faqhits.examine(query, hits))
        return SearchResult(query=text, results=results, took_ms=_ms(started))

    def document(self, doc_id: str) -> Document:
        with self.live.lease() as loaded:
            doc = loaded.retriever.index.document(doc_id)
        if doc is None:
            raise DocumentNotFoundError(f"no document {doc_id!r} in the index")
        return doc

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
                          model=manifest.model.id, build_id=loaded.build_id, index_built_at=manifest.built_at,
                          loaded_at=loaded.loaded_at, load_seconds=loaded.load_seconds,
                          build_seconds=manifest.build_seconds, index_bytes=manifest.size_bytes, pid=os.getpid(),
                          workers=None)


def related(answer: Answer, sources: list[Source]) -> list[str]:
    """The FAQ sources' matched questions, best first, but the one answering and repeats."""
    asked = {answer.matched_question} if answer.matched_question else set()
    out = [s.matched_question for s in sources if s.matched_question and s.matched_question not in asked]
    return list(dict.fromkeys(out))


def quotes(answer: Answer, hits: list[Hit]) -> list[Quote]:
    """Where each answer sentence lies in its source's text, in answer order (the i-th [n] marker's sentence)."""
    return [Quote(n=p.source, start=p.start - hits[p.source - 1].chunk.start,
                  end=p.end - hits[p.source - 1].chunk.start) for p in answer.sentences]


def validate_top_k(value: object, field: str = "top_k") -> int:
    # JSON Schema counts 3.0 as an integer, so does this; bool is an int subclass, but `true` is not a count
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise QuestionError(f"`{field}` must be an integer from 1 to {MAX_TOP_K}")
    if not 1 <= value <= MAX_TOP_K:
        raise QuestionError(f"`{field}` must be from 1 to {MAX_TOP_K}, got {value}")
    return value


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

