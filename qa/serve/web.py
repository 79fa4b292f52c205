"""Server-rendered pages: the question page (answer, sources) and a document page with the passage marked."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any, NamedTuple

from flask import Blueprint, render_template, request, url_for
from werkzeug.exceptions import BadRequest

from qa.errors import QuestionError
from qa.results import AskResult, Source
from qa.serve.loaded import current_service, loaded_service, unavailable_reason
from qa.serve.observe import note_answered
from qa.serve.question_events import event_log, record_question

web = Blueprint("web", __name__)

PAGE_TOP_K = 5
_CITATION = re.compile(r"\[(\d{1,3})\]")
_HEADING = re.compile(r"(#{1,6})[ \t]+(.*?)[ \t#]*")


class Segment(NamedTuple):
    text: str
    marked: bool = False
    anchor: str | None = None  # id of the first marked segment, the target of a #fragment


class Quoted(NamedTuple):
    """A run of a passage: the answer's sentence number `quote` (1-based, None outside quotes) and its segments."""

    quote: int | None
    segments: list[Segment]


class Piece(NamedTuple):
    text: str
    n: int | None = None  # a citation marker linking to source card n
    quote: int | None = None  # ... and to the answer's quote-th sentence inside it


PAGE_MARKER = -1  # a Block that is a page or slide marker ("第3页"), not text of the document


class Block(NamedTuple):
    level: int  # 0 for a paragraph, 2..4 for a heading rendered as <h2>..<h4>, PAGE_MARKER for a page marker
    segments: list[Segment]


@web.get("/")
def index() -> tuple[str, int]:
    question = request.args.get("q", "")
    context: dict[str, Any] = {"question": question, "examples": [], "page": None, "error": None,
                               "unavailable": None, "feedback": event_log() is not None}
    service = loaded_service()
    status = 200
    if service is not None:
        context["examples"] = service.example_questions()
    if service is None:
        context["unavailable"], status = unavailable_reason(), 503
    elif question.strip():
        try:
            result = record_question(service.ask(question, PAGE_TOP_K), "page")
            note_answered(result.answered, result.answerability)
            context["page"], context["request_id"] = present(result), result.request_id
        except QuestionError as exc:
            context["error"], status = str(exc), 400
    return render_template("index.html", **context), status


@web.get("/doc/<path:doc_id>")
def document(doc_id: str) -> str:
    doc = current_service().document(doc_id)
    passage = _passage_range(len(doc.text))
    anchor = request.args.get("chunk") or "passage"
    return render_template("doc.html", doc=doc, blocks=document_blocks(doc.text, passage, anchor, doc.locations),
                           anchor=anchor if passage else None)


class Card(NamedTuple):
    """A source as the page draws it: the passage cut into runs, and the link to its document."""

    source: Source
    runs: list[Quoted]
    href: str


class Page(NamedTuple):
    """An ask() result as the page draws it: the answer cut at its [n] markers, and the source cards."""

    result: AskResult
    pieces: list[Piece]
    cards: list[Card]
    faq_cut: bool = False  # an FAQ answer shown up to a sentence end: the page links to the whole entry


def present(result: AskResult) -> Page:
    """What the template draws of an answer: answer pieces, passage runs and segments, document links."""
    cards = [Card(s, passage_runs(s.text, s.highlights, [(i, q.start, q.end) for i, q in
                                                         enumerate(result.quotes, start=1) if q.n == s.n]),
                  doc_href(s)) for s in result.sources]
    cut = bool(result.matched_question and result.quotes
               and result.quotes[0].end < len(result.sources[result.quotes[0].n - 1].text.rstrip()))
    return Page(result, answer_pieces(result.answer, {s.n for s in result.sources}, [q.n for q in result.quotes]),
                cards, cut)


def doc_href(source: Source) -> str:
    return url_for("web.document", doc_id=source.doc_id, chunk=source.chunk_id, start=source.start,
                   end=source.end, _anchor=source.chunk_id)


def answer_pieces(answer: str, numbers: set[int], quoted: Sequence[int] = ()) -> list[Piece]:
    """Split the answer at [n] markers; only markers naming an existing source become links. The i-th marker
    leads to the answer's i-th quoted sentence when quoted[i - 1] names the same source."""
    pieces: list[Piece] = []
    pos = 0
    for i, match in enumerate(_CITATION.finditer(answer)):
        n = int(match.group(1))
        if n not in numbers:
            continue
        if match.start() > pos:
            pieces.append(Piece(answer[pos:match.start()]))
        pieces.append(Piece(match.group(0), n, i + 1 if i < len(quoted) and quoted[i] == n else None))
        pos = match.end()
    if pos < len(answer):
        pieces.append(Piece(answer[pos:]))
    return pieces


def split_marked(text: str, ranges: Iterable[Sequence[int]], anchor: str | None = None) -> list[Segment]:
    """Cut text into plain and marked segments; ranges are clipped to the text, overlaps ignored."""
    segments: list[Segment] = []
    pos = 0
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in ranges):
        if start < pos or start >= end:
            continue
        if start > pos:
            segments.append(Segment(text[pos:start]))
        first_mark = anchor is not None and not any(seg.marked for seg in segments)
        segments.append(Segment(text[start:end], True, anchor if first_mark else None))
        pos = end
    if pos < len(text):
        segments.append(Segment(text[pos:]))
    return segments


def passage_runs(text: str, highlights: Iterable[Sequence[int]],
                 quotes: Iterable[tuple[int, int, int]]) -> list[Quoted]:
    """Cut a passage into runs inside and outside the answer's quoted sentences (number, start, end), each run
    with its question-term highlights; quotes are clipped to the text, overlapping ones ignored."""
    runs: list[Quoted] = []
    pos = 0
    ranges = [list(r) for r in highlights]
    for number, start, end in sorted(((q, max(0, s), min(len(text), e)) for q, s, e in quotes),
                                     key=lambda q: q[1]):
        if start < pos or start >= end:
            continue
        if start > pos:
            runs.append(Quoted(None, _clipped(text, pos, start, ranges)))
        runs.append(Quoted(number, _clipped(text, start, end, ranges)))
        pos = end
    if pos < len(text) or not runs:
        runs.append(Quoted(None, _clipped(text, pos, len(text), ranges)))
    return runs


def _clipped(text: str, start: int, end: int, ranges: list[list[int]]) -> list[Segment]:
    return split_marked(text[start:end], [(s - start, e - start) for s, e in ranges if s < end and e > start])


def document_blocks(text: str, passage: tuple[int, int] | None, anchor: str,
                    locations: Sequence[tuple[int, str]] = ()) -> list[Block]:
    """Paragraphs and `#` headings of a document, with the passage marked and its first mark anchored; a page or
    slide marker (level PAGE_MARKER) before the block in which that page or slide begins."""
    blocks: list[Block] = []
    anchored = False
    markers = list(locations)
    for level, start, end in _layout(text):
        while markers and markers[0][0] < end:
            blocks.append(Block(PAGE_MARKER, [Segment(markers.pop(0)[1])]))
        ranges = [(passage[0] - start, passage[1] - start)] if passage else []
        segments = split_marked(text[start:end], ranges, None if anchored else anchor)
        anchored = anchored or any(seg.anchor for seg in segments)
        blocks.append(Block(level, segments))
    return blocks


def _layout(text: str) -> list[tuple[int, int, int]]:
    """(level, start, end) of each heading line and each run of non-blank lines, as offsets into text."""
    out: list[tuple[int, int, int]] = []
    para: list[int] | None = None  # [start, end] of the paragraph being collected
    offset = 0
    for line in text.split("\n"):
        line_end = offset + len(line)
        heading = _HEADING.fullmatch(line)
        if heading or not line.strip():
            if para:
                out.append((0, para[0], para[1]))
                para = None
            if heading and heading.group(2):
                level = min(len(heading.group(1)) + 1, 4)
                out.append((level, offset + heading.start(2), offset + heading.end(2)))
        elif para:
            para[1] = line_end
        else:
            para = [offset, line_end]
        offset = line_end + 1
    if para:
        out.append((0, para[0], para[1]))
    return out


def _passage_range(length: int) -> tuple[int, int] | None:
    raw_start, raw_end = request.args.get("start"), request.args.get("end")
    if raw_start is None and raw_end is None:
        return None
    try:
        start, end = int(raw_start or ""), int(raw_end or "")
    except ValueError:
        raise BadRequest(description="链接里的 start 和 end 必须都是整数（字符位置）；"
                                     "请从答案里的链接打开文章。") from None
    if not 0 <= start < end <= length:
        raise BadRequest(description=f"链接里的段落位置 start={start}、end={end} 超出了这篇文章（共 {length} 字）；"
                                     "请从新的答案里的链接打开文章。")
    return start, end
