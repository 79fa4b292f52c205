"""The question-answering service: loads the model and index once, answers and searches, shapes the JSON."""

from __future__ import annotations

import time
from typing import Any

from qa.answer import AnswerParams, build_answer, highlights
from qa.config import Settings
from qa.corpus import Document
from qa.encoders import load_embedder
from qa.errors import DocumentNotFoundError, IndexMismatchError, QuestionError
from qa.ranking import RankingParams
from qa.retrieval import MODES, Hit, Mode, Query, Retriever
from qa.store import REBUILD_HINT, load_build

MAX_TOP_K = 20


class QAService:
    def __init__(self, retriever: Retriever, settings: Settings, answer_params: AnswerParams | None = None):
        self.retriever = retriever
        self.settings = settings
        self.answer_params = answer_params or AnswerParams()

    @classmethod
    def load(cls, settings: Settings, ranking: RankingParams | None = None,
             answer_params: AnswerParams | None = None) -> QAService:
        """Check the index against the configured model, then load both; never encodes (fork safety)."""
        index = load_build(settings.index_dir, settings.model)
        embedder = load_embedder(settings.model)
        if embedder.model_id != index.manifest["model"]["id"]:
            raise IndexMismatchError(
                f"index in {settings.index_dir} was built with {index.manifest['model']['id']}, "
                f"the loaded model is {embedder.model_id}; {REBUILD_HINT}")
        return cls(Retriever(index, embedder, ranking), settings, answer_params)

    @property
    def documents(self) -> dict[str, Document]:
        return self.retriever.index.documents

    def validate_question(self, question: object, field: str = "question") -> str:
        if not isinstance(question, str):
            raise QuestionError(f"`{field}` must be a string")
        question = question.strip()
        try:
            question.encode("utf-8")
        except UnicodeEncodeError:
            raise QuestionError(f"`{field}` holds an unpaired surrogate (\\ud800-\\udfff); "
                                "send valid Unicode") from None
        if not question:
            raise QuestionError(f"`{field}` is empty: type a question, for example 付款失败但钱被扣了怎么办？")
        limit = self.settings.max_question_chars
        if len(question) > limit:
            raise QuestionError(f"`{field}` has {len(question)} characters; the limit is {limit}")
        return question

    def ask(self, question: object, top_k: object = 5, mode: Mode = "hybrid") -> dict[str, Any]:
        started = time.perf_counter()
        text = self.validate_question(question)
        k = validate_top_k(top_k)
        query = self.retriever.prepare(text)
        hits = self.retriever.rank(query, k, mode)
        answer = build_answer(self.retriever, query, hits, self.answer_params)
        return {"question": text, "answer": answer.text, "answered": answer.answered,
                "sources": self.sources(query, hits), "took_ms": _ms(started)}

    def search(self, query_text: object, k: object = 5, mode: Mode | str = "hybrid") -> dict[str, Any]:
        started = time.perf_counter()
        text = self.validate_question(query_text, "q")
        top_k = validate_top_k(k, "k")
        if mode not in MODES:
            raise QuestionError(f"`mode` must be one of {', '.join(MODES)}")
        query = self.retriever.prepare(text)
        hits = self.retriever.rank(query, top_k, mode)
        return {"query": text, "results": self.sources(query, hits), "took_ms": _ms(started)}

    def sources(self, query: Query, hits: list[Hit]) -> list[dict[str, Any]]:
        out = []
        for n, hit in enumerate(hits, start=1):
            doc = self.documents[hit.chunk.doc_id]
            out.append({
                "n": n, "doc_id": doc.doc_id, "title": doc.title, "url": doc.url, "date": doc.date,
                "chunk_id": hit.chunk.chunk_id, "text": hit.chunk.text, "start": hit.chunk.start,
                "end": hit.chunk.end, "score": round(hit.score, 4),
                "signals": {name: round(v, 4) for name, v in hit.signals.items()},
                "highlights": [list(r) for r in highlights(self._matchable(hit), query)],
            })
        return out

    def _matchable(self, hit: Hit) -> str:
        return self.retriever.normalized_text(hit.chunk.doc_id)[hit.chunk.start:hit.chunk.end]

    def document(self, doc_id: str) -> Document:
        try:
            return self.documents[doc_id]
        except KeyError:
            raise DocumentNotFoundError(f"no document {doc_id!r} in the index") from None

    def health(self) -> dict[str, Any]:
        manifest = self.retriever.index.manifest
        return {"status": "ok", "documents": manifest["corpus"]["documents"], "chunks": manifest["corpus"]["chunks"],
                "model": manifest["model"]["id"], "index_built_at": manifest["built_at"]}


def validate_top_k(value: object, field: str = "top_k") -> int:
    # bool is an int subclass; `true` is not a count
    if isinstance(value, bool) or not isinstance(value, int):
        raise QuestionError(f"`{field}` must be an integer from 1 to {MAX_TOP_K}")
    if not 1 <= value <= MAX_TOP_K:
        raise QuestionError(f"`{field}` must be from 1 to {MAX_TOP_K}, got {value}")
    return value


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 1)

