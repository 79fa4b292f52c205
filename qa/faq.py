"""FAQ files: question-answer entries from CSV/TSV, XLSX, JSONL and `type: faq` Markdown, and their text layout."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qa.errors import CorpusError

QUESTION_COLUMNS = ("question", "问题", "标准问题")
ANSWER_COLUMNS = ("answer", "答案", "答复")
ALTERNATE_COLUMNS = ("alternates", "相似问题")
OPTIONAL_COLUMNS = ("id", "url", "category")
TABLE_EXTENSIONS = (".csv", ".tsv", ".xlsx")
_ALL_COLUMNS = QUESTION_COLUMNS + ANSWER_COLUMNS + ALTERNATE_COLUMNS + OPTIONAL_COLUMNS
# An entry's text: its question, each alternate on its own line, a blank line, then the answer as written.
ANSWER_BREAK = "\n\n"

Notice = Callable[[str], None]


@dataclass(frozen=True)
class Entry:
    """One FAQ entry as read from its file."""

    questions: tuple[str, ...]  # the question first, then its alternates
    answer: str
    where: str  # "file row 3", for messages
    local_id: str  # row, line or heading number (sheet/row in a workbook): its id within the file without an id
    entry_id: str | None = None
    url: str | None = None
    category: str | None = None


def layout(questions: Iterable[str], answer: str) -> str:
    """The document text of an entry: questions one per line, a blank line, the answer."""
    return "\n".join(questions) + ANSWER_BREAK + answer


def answer_start(text: str) -> int:
    """Where the answer begins in an entry's text (questions never hold a blank line, answers may)."""
    return text.index(ANSWER_BREAK) + len(ANSWER_BREAK)


def question_spans(text: str) -> list[tuple[int, int]]:
    """(start, end) of each question line of an entry's text."""
    spans, start = [], 0
    for line in text[: answer_start(text) - len(ANSWER_BREAK)].split("\n"):
        spans.append((start, start + len(line)))
        start += len(line) + 1
    return spans


def one_line(text: str) -> str:
    """A question on one line: runs of whitespace (newlines included) become one space."""
    return " ".join(text.split())


def alternates(value: object) -> tuple[str, ...]:
    """Other phrasings: a list, or one cell with newlines or `|` between them."""
    items = value if isinstance(value, list) else str(value or "").replace("|", "\n").split("\n")
    return tuple(dict.fromkeys(q for q in (one_line(str(i)) for i in items) if q))


def entry(where: str, local_id: str, record: dict[str, Any]) -> Entry:
    """An entry from one row or JSON object (keys already mapped to question/answer/alternates/id/url/category)."""
    question = one_line(str(record.get("question") or ""))
    answer = str(record.get("answer") or "").replace("\r\n", "\n").strip()
    if not question:
        raise CorpusError(f"{where}: empty question; fill it in or delete the row")
    if not answer:
        raise CorpusError(f"{where}: empty answer to {question!r}; fill it in or delete the row")
    alts = tuple(q for q in alternates(record.get("alternates")) if q != question)
    optional = {key: (str(record[key]).strip() or None) if record.get(key) is not None else None
                for key in OPTIONAL_COLUMNS}
    return Entry((question, *alts), answer, where, local_id, optional["id"], optional["url"], optional["category"])


def table_entries(path: Path, say: Notice) -> Iterator[Entry]:
    """Entries of a CSV, TSV or XLSX file, streamed row by row; every sheet of a workbook is read."""
    if path.suffix.lower() == ".xlsx":
        yield from _workbook_entries(path, say)
        return
    try:
        with open(path, encoding="utf-8-sig", newline="") as handle:
            reader = csv.reader(handle, delimiter="\t" if path.suffix.lower() == ".tsv" else ",")
            yield from _rows_entries(str(path), enumerate(reader, start=1))
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 (byte {exc.start} of a block); re-save it as UTF-8 "
                          "(Excel: CSV UTF-8)") from None
    except csv.Error as exc:
        raise CorpusError(f"{path}: not a readable CSV ({exc}); check its quoting") from None


def _workbook_entries(path: Path, say: Notice) -> Iterator[Entry]:
    import openpyxl  # deferred: only corpora with spreadsheets pay for the import

    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)  # streams rows, never the whole file
    except Exception as exc:  # openpyxl raises zipfile, KeyError, InvalidFileException... for a damaged file
        raise CorpusError(f"{path}: not a readable XLSX workbook ({type(exc).__name__}: {exc}); re-save it "
                          "from a spreadsheet program as .xlsx") from None
    try:
        sheets = book.worksheets
        if len(sheets) > 1:
            say(f"{path}: reading all {len(sheets)} sheets ({', '.join(s.title for s in sheets)}), each with its "
                "own header row")
        for sheet in sheets:
            where = f"{path} sheet {sheet.title!r}" if len(sheets) > 1 else str(path)
            yield from _rows_entries(where, enumerate(sheet.iter_rows(values_only=True), start=1),
                                     sheet.title if len(sheets) > 1 else None)
    finally:
        book.close()


def _rows_entries(where: str, rows: Iterator[tuple[int, Iterable[object]]],
                  sheet: str | None = None) -> Iterator[Entry]:
    columns: dict[int, str] | None = None
    for number, row in rows:
        cells = ["" if v is None else str(v) for v in row]
        if not any(c.strip() for c in cells):
            continue
        if columns is None:
            columns = _header(where, number, cells)
            continue
        record = {name: cells[i] for i, name in columns.items() if i < len(cells)}
        yield entry(f"{where} row {number}", str(number) if sheet is None else f"{sheet}/{number}", record)
    if columns is None:
        raise CorpusError(f"{where}: no header row; the first row must name the columns, e.g. 问题,答案")


def _header(where: str, number: int, cells: list[str]) -> dict[int, str]:
    """Column index -> canonical name (question, answer, alternates, id, url, category)."""
    canonical = {name: "question" for name in QUESTION_COLUMNS} | {name: "answer" for name in ANSWER_COLUMNS} \
        | {name: "alternates" for name in ALTERNATE_COLUMNS} | {name: name for name in OPTIONAL_COLUMNS}
    columns: dict[int, str] = {}
    unknown: list[str] = []
    for i, cell in enumerate(cells):
        name = cell.strip().lower()
        if name and name not in canonical:
            unknown.append(cell.strip())
        elif name:
            if canonical[name] in columns.values():
                raise CorpusError(f"{where} row {number}: two columns mean {canonical[name]!r}; keep one")
            columns[i] = canonical[name]
    named = set(columns.values())
    if not named & {"question", "answer"}:
        raise CorpusError(f"{where} row {number}: the header names neither a question column "
                          f"({'/'.join(QUESTION_COLUMNS)}) nor an answer column ({'/'.join(ANSWER_COLUMNS)})")
    for role, names in (("question", QUESTION_COLUMNS), ("answer", ANSWER_COLUMNS)):
        if role not in named:
            raise CorpusError(f"{where} row {number}: no {role} column; name one {' or '.join(names)}")
    if unknown:
        raise CorpusError(f"{where} row {number}: unknown column(s) {', '.join(unknown)}; columns may be "
                          f"{', '.join(_ALL_COLUMNS)} (rename or delete them)")
    return columns


def markdown_entries(path: Path, body: str, offset_line: int) -> Iterator[Entry]:
    """Each `## question` heading of a `type: faq` Markdown body and the text under it (its answer)."""
    heading: tuple[int, str] | None = None
    lines: list[str] = []
    count = 0
    for number, line in enumerate(body.split("\n"), start=offset_line):
        if line.startswith("## "):
            if heading:
                count += 1
                yield _heading_entry(path, heading, count, lines)
            heading, lines = (number, line[3:].strip()), []
        elif heading:
            lines.append(line)
        elif line.strip() and not line.startswith("# "):
            raise CorpusError(f"{path} line {number}: text before the first `## question` heading of a "
                              "`type: faq` file; put it under a question or in another file")
    if not heading:
        raise CorpusError(f"{path}: `type: faq` but no `## question` heading; add one per question")
    yield _heading_entry(path, heading, count + 1, lines)


def _heading_entry(path: Path, heading: tuple[int, str], count: int, lines: list[str]) -> Entry:
    return entry(f"{path} line {heading[0]}", str(count), {"question": heading[1], "answer": "\n".join(lines)})
