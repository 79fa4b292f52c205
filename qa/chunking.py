"""Split documents into heading-aware chunks of whole sentences whose offsets index the document text."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from qa import faq
from qa.config import CHUNK_CHARS, CHUNK_OVERLAP
from qa.corpus import Document

_SENTENCE_ENDS = frozenset("。！？；!?;…")
_CLOSERS = frozenset("」』”’）)】》")
_CLAUSE_ENDS = frozenset("，、,：:")
_MARKDOWN_HEADING = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_NUMERAL = "[一二三四五六七八九十百零〇两]+"
# (pattern, level): chapters outrank sections, which outrank 一、 items, which outrank （一） items.
_PLAIN_HEADINGS = (
    (re.compile(rf"第(?:{_NUMERAL}|\d+)[章篇卷部]"), 1),
    (re.compile(rf"第(?:{_NUMERAL}|\d+)节"), 2),
    (re.compile(rf"{_NUMERAL}、"), 3),
    (re.compile(rf"[（(]{_NUMERAL}[）)]"), 4),
)
_PLAIN_HEADING_MAX_CHARS = 40


@dataclass(frozen=True)
class ChunkSettings:
    max_chars: int = CHUNK_CHARS  # target maximum length of a chunk's text
    overlap: int = CHUNK_OVERLAP  # whole sentences repeated from the previous chunk of the same section

    def __post_init__(self) -> None:
        if not isinstance(self.max_chars, int) or self.max_chars < 20:
            raise ValueError(f"chunk max_chars must be an integer >= 20, got {self.max_chars!r}")
        if not isinstance(self.overlap, int) or not 0 <= self.overlap <= 5:
            raise ValueError(f"chunk overlap must be an integer from 0 to 5 sentences, got {self.overlap!r}")


@dataclass(frozen=True)
class Chunk:
    chunk_id: str  # f"{doc_id}:{i}", i = 0.. within the document
    doc_id: str
    start: int  # doc.text[start:end] == text
    end: int
    text: str
    headings: tuple[str, ...]  # (doc title, section heading, subsection ...): context, not part of text

    @property
    def match_text(self) -> str:
        return match_text(self.headings, self.text)


def match_text(headings: Sequence[str], text: str) -> str:
    """What is embedded and BM25-indexed for a chunk: the heading path, a newline, then the text."""
    return " / ".join(headings) + "\n" + text


@dataclass(frozen=True)
class _Section:
    headings: tuple[str, ...]
    start: int
    end: int


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """(start, end) spans of the sentences in text[start:end]; line breaks end sentences too."""
    end = len(text) if end is None else end
    spans = []
    i = begin = start
    while i < end:
        char = text[i]
        i += 1
        if char in "\n\r":
            spans.append((begin, i - 1))
            begin = i
        elif char in _SENTENCE_ENDS:
            while i < end and text[i] in _SENTENCE_ENDS:  # ?! and …… end one sentence, not several
                i += 1
            while i < end and text[i] in _CLOSERS:  # 。」 keeps the quote with its sentence
                i += 1
            spans.append((begin, i))
            begin = i
    spans.append((begin, end))
    return [span for span in (_strip(text, s, e) for s, e in spans) if span[0] < span[1]]


def chunk_document(doc: Document, settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Chunks of doc in text order, never crossing a heading, each at most settings.max_chars long; an FAQ entry
    is one chunk, whatever its length (its questions and answer are one unit)."""
    if doc.kind == "faq":
        return [Chunk(f"{doc.doc_id}:0", doc.doc_id, 0, len(doc.text), doc.text, ())]
    chunks: list[Chunk] = []
    for section in _sections(doc):
        sentences = [piece for s, e in split_sentences(doc.text, section.start, section.end)
                     if _has_content(doc.text, s, e)
                     for piece in _split_long(doc.text, s, e, settings.max_chars)]
        for first, last in _pack(sentences, settings):
            start, end = sentences[first][0], sentences[last][1]
            chunks.append(Chunk(f"{doc.doc_id}:{len(chunks)}", doc.doc_id, start, end,
                                doc.text[start:end], section.headings))
    return chunks


def chunk_sentences(doc: Document, chunk: Chunk) -> tuple[list[tuple[int, int]], int]:
    """Sentence spans of a chunk, and how many of them (the first ones) are an FAQ entry's questions: each
    question line is one sentence, embedded as a question (see qa.index.build)."""
    if doc.kind == "faq":
        questions = faq.question_spans(doc.text)
        return questions + split_sentences(doc.text, faq.answer_start(doc.text)), len(questions)
    return split_sentences(doc.text, chunk.start, chunk.end), 0


def chunk_corpus(docs: Sequence[Document], settings: ChunkSettings = ChunkSettings()) -> list[Chunk]:
    """Chunks of every document, in document order."""
    return [chunk for doc in docs for chunk in chunk_document(doc, settings)]


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _has_content(text: str, start: int, end: int) -> bool:
    # Lines of pure punctuation (Markdown rules "---", a stray "……") would make chunks nobody can match.
    return any(char.isalnum() for char in text[start:end])


def _lines(text: str) -> Iterator[tuple[int, int]]:
    start = 0
    for line in text.splitlines(keepends=True):
        yield start, start + len(line.rstrip("\r\n"))
        start += len(line)


def _sections(doc: Document) -> list[_Section]:
    """Heading-free regions of doc.text, each with its heading path (doc title first)."""
    markdown = _is_markdown(doc.text)
    stack: list[tuple[int, str]] = []  # (level, heading) of the open headings
    sections = [_Section((doc.title,), 0, 0)]
    in_fence = False
    for start, end in _lines(doc.text):
        line = doc.text[start:end]
        if markdown and _FENCE.match(line):
            in_fence = not in_fence  # "# comment" lines inside code blocks are not headings
        heading = None if in_fence else _heading(line, markdown)
        if heading is None:
            continue
        level, title = heading
        stack = [(lvl, t) for lvl, t in stack if lvl < level] + [(level, title)]
        sections[-1] = _Section(sections[-1].headings, sections[-1].start, start)
        sections.append(_Section(_heading_path(doc.title, stack), end, end))
    sections[-1] = _Section(sections[-1].headings, sections[-1].start, len(doc.text))
    return sections


def _heading_path(title: str, stack: list[tuple[int, str]]) -> tuple[str, ...]:
    names = [name for _, name in stack if name]
    if names and names[0] == title:  # "# Title" repeating the document title adds nothing
        names = names[1:]
    return (title, *names)


def _is_markdown(text: str) -> bool:
    return any(_MARKDOWN_HEADING.fullmatch(text[s:e]) for s, e in _lines(text))


def _heading(line: str, markdown: bool) -> tuple[int, str] | None:
    """(level, heading text) if line is a heading line, else None."""
    if markdown:
        match = _MARKDOWN_HEADING.fullmatch(line)
        return (len(match.group(1)), (match.group(2) or "").strip()) if match else None
    stripped = line.strip()
    if len(stripped) > _PLAIN_HEADING_MAX_CHARS or any(char in _SENTENCE_ENDS for char in stripped):
        return None
    for pattern, level in _PLAIN_HEADINGS:
        if pattern.match(stripped):
            return level, stripped
    return None


def _split_long(text: str, start: int, end: int, limit: int) -> Iterator[tuple[int, int]]:
    """Pieces of a sentence, each at most limit long: cut after the last clause mark that fits, else hard."""
    while end - start > limit:
        cut = next((i + 1 for i in range(start + limit - 1, start, -1) if text[i] in _CLAUSE_ENDS),
                   start + limit)
        piece = _strip(text, start, cut)
        if piece[0] < piece[1]:
            yield piece
        start, end = _strip(text, cut, end)
    if start < end:
        yield start, end


def _pack(sentences: list[tuple[int, int]], settings: ChunkSettings) -> Iterator[tuple[int, int]]:
    """(first, last) sentence indices of each chunk: greedy packing with sentence overlap."""
    first = 0
    while first < len(sentences):
        last = first
        start = sentences[first][0]
        while last + 1 < len(sentences) and sentences[last + 1][1] - start <= settings.max_chars:
            last += 1
        yield first, last
        if last + 1 == len(sentences):
            return
        following = sentences[last + 1][1]
        # Repeat at most the previous chunk's sentences after its first (so we always advance), and only as
        # many as still leave room for the next new sentence.
        repeat = min(settings.overlap, last - first)
        while repeat and following - sentences[last + 1 - repeat][0] > settings.max_chars:
            repeat -= 1
        first = last + 1 - repeat
