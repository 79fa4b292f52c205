"""What the service returns: typed records from which the JSON API, its OpenAPI schema, the page and the CLI are
built (qa.serve.openapi derives the schema from these fields, so the two cannot drift)."""

from __future__ import annotations

from dataclasses import MISSING, dataclass, field
from typing import Any, Literal


def described(text: str, default: Any = MISSING, **schema: Any) -> Any:
    """A dataclass field whose OpenAPI description (and extra JSON Schema keywords) ride in its metadata."""
    return field(default=default, metadata={"description": text, **schema})


RefusalReason = Literal["mismatch", "corrupt", "missing", "invalid", "unreadable"]
SPAN_SCHEMA = {"type": "array", "items": {"type": "integer", "minimum": 0}, "minItems": 2, "maxItems": 2}


@dataclass(frozen=True)
class Signals:
    """Each ranking signal for this passage: cosine with the passage (dense) and with its best sentence,
    IDF-weighted share of the question's terms (coverage), BM25, the fused hybrid score, and for an FAQ entry the
    cosine of the question with the entry's nearest question (0 for a passage), and the verifier's probability
    that the passage answers (or the entry matches) the question, having read both together (null when it did not
    read this one)."""

    dense: float
    sentence: float
    coverage: float
    bm25: float
    hybrid: float
    question: float
    verifier: float | None


@dataclass(frozen=True)
class Suggestion:
    """An FAQ entry close to the question but not sure enough to answer with: offered as "你是不是想问：…"."""

    question: str = described("The entry's question nearest the one asked: asking it gets the entry's answer.")
    doc_id: str = described("The entry's id (its document id, for /api/documents/<doc_id>).")
    probability: float = described("The verifier's probability that this entry is what was asked.",
                                   minimum=0, maximum=1)


@dataclass(frozen=True)
class Source:
    """One retrieved passage or FAQ entry, numbered for the answer's [n] markers."""

    n: int = described("1-based number used by [n] markers.", minimum=1)
    doc_id: str = described("Corpus path without extension (or the JSONL id); may contain '/'.")
    title: str = described("The document's title.")
    url: str | None = described("The document's URL, when the corpus gives one.")
    date: str | None = described("The document's date, when the corpus gives one.")
    chunk_id: str = described("The passage: `doc_id:ordinal`.")
    text: str = described("The passage: the document's text[start:end].")
    start: int = described("Offset of the passage in the document's text (code points).", minimum=0)
    end: int = described("End offset of the passage in the document's text.", minimum=0)
    score: float = described("Ranking score of the chosen mode.")
    signals: Signals = described("Every ranking signal of this passage.")
    highlights: list[tuple[int, int]] = described("[start, end) ranges of `text` holding the question's terms.",
                                                  items=SPAN_SCHEMA)
    kind: Literal["passage", "faq"] = described(
        "`faq`: an FAQ entry, whose `text` is its question and alternates one per line, a blank line, then its "
        "answer; `passage`: a passage of a document.")
    matched_question: str | None = described("For an FAQ entry, its question (or alternate) nearest the one "
                                             "asked; null for a passage.")
    location: str | None = described(
        "Where the passage lies in its document: its page(s) (PDF) or slide (PowerPoint), then its heading path "
        "below the title, e.g. \"第3页 · 第二章 / 退款\"; null when the document has neither.", default=None)


@dataclass(frozen=True)
class Quote:
    """Where one answer sentence lies: sources[n-1].text[start:end] (code points)."""

    n: int = described("The source the sentence is quoted from.", minimum=1)
    start: int = described("Start offset in that source's text.", minimum=0)
    end: int = described("End offset in that source's text.", minimum=1)


@dataclass(frozen=True)
class AskResult:
    """An answer made of the sources' own sentences, or an abstention, with the numbered sources."""

    question: str = described("The question as understood (trimmed).")
    answer: str = described("Extracted sentences, each followed by a [n] marker citing sources[n-1]; empty when "
                            "answered is false.")
    answered: bool = described("False when the corpus holds no passage that answers the question.")
    answerability: float | None = described(
        "Estimated probability that the corpus answers the question (a logistic model over retrieval and question "
        "features, fitted for the embedding model); the service abstains below its threshold, fitted on the dev "
        "questions. Null when calibrated is false.", minimum=0, maximum=1)
    calibrated: bool = described(
        "True when an answerability model was fitted for the embedding model (qa/fitted/). False: the model serves "
        "uncalibrated, with neutral ranking and answer settings; it never abstains (answered is false only when "
        "nothing was found) and answerability is null.")
    quotes: list[Quote] = described("Where each answer sentence lies, in answer order: the i-th [n] marker's "
                                    "sentence. Empty when answered is false.")
    matched_question: str | None = described(
        "When the answer is an FAQ entry's own answer (quoted whole, or up to a sentence end when long: its quote "
        "then ends before the source's text does): the entry's question it answers, nearest the one asked. Null "
        "otherwise.")
    related_questions: list[str] = described("Questions of the other FAQ entries among the sources, best first, "
                                             "to ask next.")
    suggestions: list[Suggestion] = described(
        "When answered is false but FAQ entries came close (the verifier, reading the question with each entry's "
        "questions, found them likely but not sure enough): up to three, best first, to offer as "
        "\"你是不是想问：…\". Empty otherwise.")
    sources: list[Source] = described("The passages, best first.")
    took_ms: float = described("Time the service spent on the question.")
    build_id: str = described("The index build that answered.")


@dataclass(frozen=True)
class AskResponse(AskResult):
    """What /api/ask returns: the answer, and the id of the request that asked, for /api/feedback."""

    request_id: str = described("This request's id, as in the X-Request-ID header: send it to /api/feedback "
                                "to say whether the answer helped.")


@dataclass(frozen=True)
class FeedbackResult:
    """Feedback on one answer, as kept."""

    request_id: str = described("The request the feedback is about.")
    helpful: bool = described("Whether the answer (or abstention) helped.")
    known_request: bool = described("Whether this server recorded a question with that request id (today or "
                                    "yesterday); feedback on an unknown id is kept all the same, marked so.")


@dataclass(frozen=True)
class SearchResult:
    """Ranked passages for a query, without an answer."""

    query: str = described("The query as understood (trimmed).")
    results: list[Source] = described("The passages, best first, numbered from 1.")
    took_ms: float = described("Time the service spent on the query.")


@dataclass(frozen=True)
class Refusal:
    """A build a worker would not serve, and why; it kept serving the build it had."""

    build_id: str = described("The refused build.")
    reason: RefusalReason = described(
        "mismatch: another model, backend or format; corrupt: a damaged file; missing: gone or unfinished; "
        "invalid: anything else the backend refused; unreadable: a read error (retried at the next check).")
    message: str = described("What was wrong and how to fix it.")
    at: str = described("ISO 8601 time of the refusal.")


@dataclass(frozen=True)
class WorkerHealth:
    """One live worker process of the server and the build it answers from."""

    pid: int = described("The worker's process id.", minimum=1)
    build_id: str = described("The index build the worker answers from.")
    loaded_at: str = described("ISO 8601 time the worker loaded that build.")
    last_refusal: Refusal | None = described("The last build the worker refused (null if none).")


@dataclass(frozen=True)
class Health:
    """The build this worker answers from."""

    status: Literal["ok"]
    documents: int = described("Documents in the index.", minimum=0)
    chunks: int = described("Passages (chunks) in the index.", minimum=0)
    model: str = described("Id of the embedding model the index was built with.")
    calibrated: bool = described(
        "True when the parameters the service answers with (ranking, answer composition, answerability) were "
        "fitted for this model (qa/fitted/); false: neutral defaults and no abstention.")
    verifier: bool = described(
        "True when a verifier fitted for this model reads each question with its first candidates (reranking, "
        "answerability, FAQ suggestions); false when none is fitted or QA_VERIFIER is off.")
    build_id: str = described("The index build this worker answers from.")
    index_built_at: str = described("ISO 8601 time the index was built.")
    loaded_at: str = described("ISO 8601 time this worker loaded the build.")
    load_seconds: float = described("How long loading the build took.")
    build_seconds: float | None = described("How long that build took (null for builds made before this was "
                                            "recorded).")
    index_bytes: int = described("The build's size on disk.", minimum=0)
    pid: int = described("The worker process that answered.", minimum=1)
    workers: list[WorkerHealth] | None = described("With ?all=1: every live worker of this server and its build "
                                                   "(a worker that switched builds is listed with its new one); "
                                                   "null otherwise.")


@dataclass(frozen=True)
class Unavailable:
    """No usable index is loaded."""

    status: Literal["unavailable"]
    reason: str = described("Why no index is usable and how to fix it.")
