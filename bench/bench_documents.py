"""Documents against Markdown: the same DRCD paragraphs as one Markdown file, one PDF printed by Chromium (header and
footer on) and one Word file; recall@1 of their questions, every cited PDF page checked, build times; then one page
of the PDF as a scan (image only), read by OCR.

    PYTHONPATH=$PWD python bench/bench_documents.py --paragraphs 30 [--model e5-torch] [--out FILE] [--drcd DIR]

recall@1: the top source of `QAService.search(question, k=1)` lies under the gold paragraph's heading (its location's
heading path). A cited page is right when the page(s) its location names are those whose raw PDFium text holds the
start and the end of the cited passage. The OCR check counts questions whose gold answer is in the top source.
Each build starts with an empty embedding cache (timed cold, as a person's first build).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sample_documents import print_pdf, scan_pdf, sections_html, write_docx  # noqa: E402

from qa.config import Settings  # noqa: E402
from qa.encoders import load_embedder  # noqa: E402
from qa.index.build import build_index  # noqa: E402
from qa.service import QAService  # noqa: E402

DRCD = ROOT.parent / "shared" / "bench" / "drcd"
_PAGES = re.compile(r"第(\d+)页(?:–第(\d+)页)?")


def load_drcd(drcd: Path, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    with open(drcd / "corpus.jsonl", encoding="utf-8") as handle:
        docs = [json.loads(line) for _, line in zip(range(n), handle, strict=False)]
    ids = {d["id"] for d in docs}
    with open(drcd / "questions.jsonl", encoding="utf-8") as handle:
        questions = [q for q in map(json.loads, handle) if q["doc_id"] in ids]
    return docs, questions


def heading(doc: dict[str, Any]) -> str:
    return f"{doc['title']}（{doc['id']}）"


def run(corpus: Path, model: str, embedder: Any) -> tuple[QAService, float]:
    index = corpus.parent / "index"
    settings = Settings.load(environ={}, corpus_dir=corpus, index_dir=index, model=model)
    started = time.perf_counter()
    report = build_index(settings, embedder=embedder)
    seconds = time.perf_counter() - started
    print(report.summary(), file=sys.stderr)
    return QAService.load(settings), seconds


def page_texts(pdf_path: Path) -> list[str]:
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(pdf_path)
    try:
        texts = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            texts.append("".join(textpage.get_text_range().split()))
            textpage.close()
            page.close()
        return texts
    finally:
        pdf.close()


def true_pages(text: str, pages: list[str]) -> tuple[int, int]:
    flat = "".join(text.split())
    head, tail = flat[:12], flat[-12:]
    first = next(i + 1 for i, page in enumerate(pages) if head in page)
    last = next(i + 1 for i in range(len(pages) - 1, -1, -1) if tail in pages[i])
    return first, last


def evaluate(service: QAService, docs: dict[str, dict[str, Any]], questions: list[dict[str, Any]],
             pages: list[str] | None) -> dict[str, Any]:
    hits = pages_right = pages_checked = 0
    wrong_pages = []
    for q in questions:
        source = service.search(q["question"], 1).results[0]
        hits += heading(docs[q["doc_id"]]) in (source.location or "")
        if pages is not None:
            match = _PAGES.search(source.location or "")
            cited = (int(match.group(1)), int(match.group(2) or match.group(1))) if match else None
            truth = true_pages(source.text, pages)
            pages_checked += 1
            if cited == truth:
                pages_right += 1
            else:
                wrong_pages.append({"question": q["id"], "cited": cited, "truth": truth})
    out: dict[str, Any] = {"questions": len(questions), "recall_at_1": round(hits / len(questions), 4)}
    if pages is not None:
        out.update(pages_checked=pages_checked, pages_right=pages_right, wrong_pages=wrong_pages[:5])
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--paragraphs", type=int, default=30)
    parser.add_argument("--model", default="e5-torch")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--drcd", type=Path, default=DRCD, help="the DRCD folder (default ../shared/bench/drcd)")
    args = parser.parse_args()
    docs, questions = load_drcd(args.drcd, args.paragraphs)
    by_id = {d["id"]: d for d in docs}
    sections = [(heading(d), d["text"]) for d in docs]
    title = f"DRCD {len(docs)} 段"
    embedder = load_embedder(args.model)
    results: dict[str, Any] = {"paragraphs": len(docs), "model": args.model}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        made = {}
        for kind in ("markdown", "pdf", "docx"):
            (root / kind / "corpus").mkdir(parents=True)
        (root / "markdown" / "corpus" / "drcd.md").write_text(
            f"# {title}\n\n" + "".join(f"## {h}\n\n{t}\n\n" for h, t in sections), encoding="utf-8")
        pdf_path = print_pdf(sections_html(title, sections), title, root / "pdf" / "corpus" / "drcd.pdf")
        write_docx(title, sections, root / "docx" / "corpus" / "drcd.docx")
        pages = page_texts(pdf_path)
        results["pdf_pages"] = len(pages)
        for kind in ("markdown", "pdf", "docx"):
            service, seconds = run(root / kind / "corpus", args.model, embedder)
            made[kind] = service
            results[kind] = {"build_seconds": round(seconds, 2),
                             **evaluate(service, by_id, questions, pages if kind == "pdf" else None)}
        results["pdf_build_ratio"] = round(results["pdf"]["build_seconds"] / results["markdown"]["build_seconds"], 3)
        for kind in ("pdf", "docx"):
            results[f"{kind}_recall_gap"] = round(results["markdown"]["recall_at_1"] - results[kind]["recall_at_1"], 4)
        results["scan"] = scanned(root, pdf_path, pages, questions, by_id, args.model, embedder)
    text = json.dumps(results, ensure_ascii=False, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


def scanned(root: Path, pdf_path: Path, pages: list[str], questions: list[dict[str, Any]],
            by_id: dict[str, dict[str, Any]], model: str, embedder: Any) -> dict[str, Any]:
    """Page 2 of the PDF as an image-only PDF: the questions of paragraphs wholly on it, answered from OCR."""
    corpus = root / "scan" / "corpus"
    corpus.mkdir(parents=True)
    scan_pdf(pdf_path, 1, corpus / "scan.pdf")
    on_page = {i for i, d in by_id.items() if true_pages(d["text"], pages) == (2, 2)}
    asked = [q for q in questions if q["doc_id"] in on_page]
    service, seconds = run(corpus, model, embedder)
    found = sum(any(a in service.search(q["question"], 1).results[0].text for a in q["answers"]) for q in asked)
    return {"paragraphs_on_page": len(on_page), "questions": len(asked), "answer_in_top_source": found,
            "build_seconds": round(seconds, 2)}


if __name__ == "__main__":
    main()
