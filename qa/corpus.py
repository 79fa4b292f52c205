"""Corpus loading: Markdown, plain-text, HTML, JSONL and FAQ files under a directory become Document records."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import astuple, dataclass
from pathlib import Path
from typing import Any

from qa import documents, faq
from qa.documents import zipguard
from qa.documents.cache import ExtractCache, content_key
from qa.errors import CorpusError
from qa.inventory import Inventory, Skipped, walk

TEXT_EXTENSIONS = (".md", ".markdown", ".txt", ".html", ".htm", ".jsonl", *faq.TABLE_EXTENSIONS)
SUPPORTED_EXTENSIONS = (*TEXT_EXTENSIONS, *documents.EXTENSIONS)

FRONT_MATTER_KEYS = ("title", "date", "source", "url", "type")
JSONL_KEYS = ("id", "text", "title", "url", "date")
FAQ_JSONL_KEYS = ("id", "question", "answer", "alternates", "url", "category")
KINDS = ("passage", "faq")
Notice = Callable[[str], None]


@dataclass(frozen=True)
class Document:
    doc_id: str
    title: str
    text: str  # body shown to users; Markdown heading lines ("## ...") stay in the text
    url: str | None = None
    date: str | None = None
    source: str | None = None
    # "faq": an FAQ entry, its text laid out by qa.faq.layout (questions, a blank line, the answer)
    kind: str = "passage"
    # (offset, label) where each page or slide begins in text (PDF, PPTX); empty for other formats
    locations: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True)
class DocumentInfo:
    """What a result card shows of a document, without its (possibly large) text."""

    doc_id: str
    title: str
    url: str | None = None
    date: str | None = None
    source: str | None = None
    kind: str = "passage"
    locations: tuple[tuple[int, str], ...] = ()


def iter_corpus(root: Path, notice: Notice | None = None, *, options: documents.ReadOptions | None = None,
                inventory: Inventory | None = None) -> Iterator[Document]:
    """Every document of every supported file under root (recursively), one file in memory at a time, files in
    path order; a duplicate doc_id fails naming both places. notice hears what is worth saying but not wrong (e.g.
    that every sheet of a workbook is read). The one rule for bad files: a file that cannot be opened as what its
    extension says (encrypted, damaged, mislabelled, a zip bomb, no text) is skipped with a line naming it; a
    mistake inside a text file (front matter, JSONL, FAQ columns) stops the build. inventory hears what was read
    and every file skipped, with why."""
    root = Path(root)
    if not root.is_dir():
        what = "is not a directory" if root.exists() else "does not exist"
        raise CorpusError(f"corpus directory {root} {what}; create it or pass --corpus DIR (QA_CORPUS_DIR)")
    counted = inventory if inventory is not None else Inventory()
    files = sorted(walk(root, SUPPORTED_EXTENSIONS, counted))
    if not files:
        raise CorpusError(f"no corpus files found under {root}; add files with one of the extensions "
                          f"{', '.join(SUPPORTED_EXTENSIONS)}" + _skipped_hint(counted))
    origins: dict[str, str] = {}
    say = notice or (lambda _: None)
    cache = ExtractCache(options.cache_path) if options is not None and options.cache_path is not None else None
    try:
        for path in files:
            for doc, origin in _load(root, path, options or documents.ReadOptions(), cache, counted, say):
                if doc.doc_id in origins:
                    raise CorpusError(f"duplicate doc_id {doc.doc_id!r} in {origins[doc.doc_id]} and {origin}; "
                                      "rename one of the files or change one of the ids")
                origins[doc.doc_id] = origin
                yield doc
    finally:
        if cache is not None:
            cache.close()
    if not origins:
        raise CorpusError(f"no readable documents under {root}" + _skipped_hint(counted))


def _skipped_hint(inventory: Inventory) -> str:
    return f" ({inventory.summary()})" if inventory.skipped else ""


def _load(root: Path, path: Path, options: documents.ReadOptions, cache: ExtractCache | None, inventory: Inventory,
          say: Notice) -> Iterator[tuple[Document, str]]:
    suffix = path.suffix.lower()
    try:
        if suffix in documents.EXTENSIONS:
            loaded: Iterator[tuple[Document, str]] = iter([_document(root, path, options, cache, inventory, say)])
        elif suffix in faq.TABLE_EXTENSIONS:
            if suffix == ".xlsx":
                zipguard.check(path, "xl/workbook.xml", "Excel (.xlsx)")
            loaded = _table(root, path, say)
        else:
            loaded = _LOADERS[suffix](root, path)
    except documents.UnreadableFile as exc:
        inventory.skipped.append(Skipped(path.relative_to(root).as_posix(), str(exc).removeprefix(f"{path}: ")))
        say(f"skipped {exc}")
        return
    inventory.read[documents.kind_of(path) if suffix in documents.EXTENSIONS else suffix.lstrip(".")] += 1
    yield from loaded


def _document(root: Path, path: Path, options: documents.ReadOptions, cache: ExtractCache | None,
              inventory: Inventory, say: Notice) -> tuple[Document, str]:
    """A PDF, Word, PowerPoint or image file as one document, its extraction cached by the file's content."""
    key = content_key(path, f"{documents.READER_VERSION}\x00ocr={options.ocr}") if cache is not None else ""
    extracted = cache.get(key) if cache is not None else None
    if extracted is None:
        extracted = documents.extract(path, options)
        if extracted.ocr_pages:
            inventory.ocr_seconds += extracted.ocr_seconds
            say(f"{path}: OCR read {extracted.ocr_pages} page(s) in {extracted.ocr_seconds:.1f} s")
        if cache is not None:
            cache.put(key, extracted)
    else:
        inventory.from_cache += 1
    inventory.pages += extracted.pages
    inventory.ocr_pages += extracted.ocr_pages
    doc = Document(_doc_id(root, path), extracted.title, extracted.text, locations=extracted.locations)
    return doc, str(path)


def load_corpus(root: Path) -> list[Document]:
    """All documents under root, sorted by doc_id."""
    return sorted(iter_corpus(root), key=lambda d: d.doc_id)


def document_digest(doc: Document) -> str:
    """SHA-256 hex digest over every field of one document."""
    return hashlib.sha256(json.dumps(astuple(doc), ensure_ascii=False).encode("utf-8")).hexdigest()


def corpus_fingerprint(docs: Iterable[Document] | Iterable[str]) -> str:
    """SHA-256 hex digest over every field of every document (or over their digests), independent of order."""
    digests = sorted(d if isinstance(d, str) else document_digest(d) for d in docs)
    return hashlib.sha256("\n".join(digests).encode("utf-8")).hexdigest()


def _read_text(path: Path) -> str:
    try:
        # utf-8-sig: editors on Windows often prepend a BOM, which would otherwise end up in the first title.
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CorpusError(f"{path}: not valid UTF-8 (byte {exc.start}); re-save the file as UTF-8") from None
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _doc_id(root: Path, path: Path) -> str:
    return path.relative_to(root).with_suffix("").as_posix()


def _require_text(path: Path, text: str, where: str = "") -> str:
    text = text.strip()
    # A file of NUL bytes (a truncated download, a sparse file) is as empty as one of whitespace.
    if not text.replace("\x00", "").strip():
        raise CorpusError(f"{path}{where}: empty document; add some text or delete it")
    return text


def _load_markdown(root: Path, path: Path) -> Iterator[tuple[Document, str]]:
    raw = _read_text(path)
    meta, body = _split_front_matter(path, raw)
    kind = meta.pop("type", None)
    if kind not in (None, "faq"):
        raise CorpusError(f"{path}: front matter `type: {kind}` is unknown; the only type is `faq` (an FAQ file "
                          "whose `##` headings are questions); delete the line for an article")
    if kind == "faq":
        first_line = raw.count("\n") - body.count("\n") + 1
        for item in faq.markdown_entries(path, body, first_line):
            yield _faq_document(root, path, item), item.where
        return
    body = _require_text(path, body, " (after front matter)" if meta else "")
    heading = next((line[2:].strip() for line in body.split("\n") if line.startswith("# ")), "")
    title = meta.pop("title", None) or heading or path.stem
    yield Document(_doc_id(root, path), title, body, url=meta.get("url"), date=meta.get("date"),
                   source=meta.get("source")), str(path)


def _split_front_matter(path: Path, raw: str) -> tuple[dict[str, str | None], str]:
    lines = raw.split("\n")
    if lines[0].strip() != "---":
        return {}, raw
    try:
        end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    except StopIteration:
        raise CorpusError(f"{path}: front matter opened with '---' on line 1 is never closed; "
                          "add a closing '---' line after the key: value lines") from None
    meta: dict[str, str | None] = {}  # "type" rides here until the Markdown loader takes it out
    for number, line in enumerate(lines[1:end], start=2):
        if not line.strip():
            continue
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        # Unknown keys are rejected because a typo such as "titel" would otherwise silently lose the title.
        if not sep or key not in FRONT_MATTER_KEYS:
            raise CorpusError(f"{path} line {number}: front matter line {line.strip()!r} is not "
                              f"'key: value' with key one of {', '.join(FRONT_MATTER_KEYS)}")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        meta[key] = value or None
    return meta, "\n".join(lines[end + 1:])


def _load_txt(root: Path, path: Path) -> Iterator[tuple[Document, str]]:
    text = _require_text(path, _read_text(path))
    yield Document(_doc_id(root, path), text.split("\n", 1)[0].strip(), text), str(path)


def _load_html(root: Path, path: Path) -> Iterator[tuple[Document, str]]:
    import trafilatura  # deferred: only corpora with HTML files pay for the import

    result = trafilatura.bare_extraction(_read_text(path), with_metadata=True)
    if result is not None and not isinstance(result, dict):
        result = result.as_dict()
    extracted: dict[str, Any] = result or {}
    text = (extracted.get("text") or "").strip()
    if not text:
        raise CorpusError(f"{path}: no main text could be extracted from this HTML; check that the page has "
                          "its content in the HTML itself (not rendered by JavaScript) or convert it to .md")
    title = (extracted.get("title") or "").strip() or path.stem
    yield Document(_doc_id(root, path), title, text, url=extracted.get("url") or None,
                   date=extracted.get("date") or None), str(path)


def _load_jsonl(root: Path, path: Path) -> Iterator[tuple[Document, str]]:
    found = False
    # Line by line: a JSONL corpus may be far larger than memory should hold at once.
    with open(path, encoding="utf-8-sig", newline=None) as handle:
        number = 0
        try:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    found = True
                    yield _jsonl_document(root, path, number, line), f"{path} line {number}"
        except UnicodeDecodeError as exc:
            raise CorpusError(f"{path} line {number + 1}: not valid UTF-8 (byte {exc.start} of a block); "
                              "re-save the file as UTF-8") from None
    if not found:
        raise CorpusError(f"{path}: empty document; add one JSON object per line or delete the file")


def _jsonl_document(root: Path, path: Path, number: int, line: str) -> Document:
    where = f"{path} line {number}"
    try:
        record: Any = json.loads(line)
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{where}: invalid JSON ({exc.msg} at column {exc.colno}); "
                          "each line must be one complete JSON object") from None
    if not isinstance(record, dict):
        raise CorpusError(f"{where}: expected a JSON object like {{\"id\": ..., \"text\": ...}}, "
                          f"got {type(record).__name__}")
    if "question" in record or "answer" in record:
        return _jsonl_faq(root, path, where, number, record)
    unknown = sorted(set(record) - set(JSONL_KEYS))
    if unknown:
        raise CorpusError(f"{where}: unknown field(s) {', '.join(unknown)}; allowed: {', '.join(JSONL_KEYS)}")
    for key in ("id", "text"):
        if not isinstance(record.get(key), str) or not record[key].replace("\x00", "").strip():
            raise CorpusError(f"{where}: field {key!r} is missing or not a non-empty string; "
                              f"add \"{key}\": \"...\" to this line")
    for key in ("title", "url", "date"):
        if record.get(key) is not None and not isinstance(record[key], str):
            raise CorpusError(f"{where}: field {key!r} must be a string or null")
    text = record["text"].replace("\r\n", "\n").strip()
    return Document(record["id"].strip(), record.get("title") or record["id"].strip(), text,
                    url=record.get("url") or None, date=record.get("date") or None)


def _jsonl_faq(root: Path, path: Path, where: str, number: int, record: dict[str, Any]) -> Document:
    unknown = sorted(set(record) - set(FAQ_JSONL_KEYS))
    if unknown:
        raise CorpusError(f"{where}: unknown field(s) {', '.join(unknown)} in an FAQ line; allowed: "
                          f"{', '.join(FAQ_JSONL_KEYS)}")
    for key in ("question", "answer"):
        if not isinstance(record.get(key), str):
            raise CorpusError(f"{where}: an FAQ line needs \"{key}\" as a string; add it to this line")
    if record.get("alternates") is not None and not isinstance(record["alternates"], (str, list)):
        raise CorpusError(f"{where}: field 'alternates' must be a list of strings or one string with | between")
    return _faq_document(root, path, faq.entry(where, str(number), record))


def _table(root: Path, path: Path, say: Notice) -> Iterator[tuple[Document, str]]:
    for item in faq.table_entries(path, say):
        yield _faq_document(root, path, item), item.where


def _faq_document(root: Path, path: Path, item: faq.Entry) -> Document:
    """An FAQ entry as a document: id its own or the file's plus its row; title its category or question."""
    doc_id = item.entry_id or f"{_doc_id(root, path)}/{item.local_id}"
    return Document(doc_id, item.category or item.questions[0], faq.layout(item.questions, item.answer),
                    url=item.url, kind="faq")


_LOADERS: dict[str, Callable[[Path, Path], Iterator[tuple[Document, str]]]] = {
    ".md": _load_markdown, ".markdown": _load_markdown, ".txt": _load_txt,
    ".html": _load_html, ".htm": _load_html, ".jsonl": _load_jsonl,
}
