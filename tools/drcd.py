"""Prepare the DRCD benchmark (../shared/bench/drcd) as a qa corpus plus a `qa eval` question file.

    python tools/drcd.py --out .cache/drcd            # all 2,000 paragraphs, 7,017 questions
    python tools/drcd.py --out .cache/drcd-300 --docs 300   # a fixed deterministic subset
    python tools/drcd.py --out .cache/drcd-split --split    # the abstention split: half the paragraphs indexed
    python tools/drcd.py --out .cache/drcd-split-ci --split --titles 12   # 12 articles of each part (CI guard)
    qa index --corpus .cache/drcd/corpus --index-dir .cache/drcd/index
    qa eval .cache/drcd/questions.jsonl --index-dir .cache/drcd/index --compare
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

DEFAULT_SOURCE = Path(__file__).resolve().parent.parent.parent / "shared" / "bench" / "drcd"


def prepare(source: Path, out: Path, docs: int | None) -> tuple[int, int]:
    """Write out/corpus/corpus.jsonl and out/questions.jsonl; the subset is the first `docs` paragraphs of
    the dev split and the first `docs` of the test split, so it keeps both splits' hard negatives."""
    lines = (source / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines if line.strip()]
    if docs is not None:
        half = docs // 2
        dev = [r for r in records if r["id"].startswith("DEV_")][: docs - half]
        test = [r for r in records if r["id"].startswith("TEST_")][:half]
        records = dev + test
    keep = {r["id"] for r in records}
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    with open(out / "corpus" / "corpus.jsonl", "w", encoding="utf-8") as handle:
        for r in records:
            handle.write(json.dumps(r, ensure_ascii=False) + "\n")
    questions = 0
    with open(source / "questions.jsonl", encoding="utf-8") as src, \
            open(out / "questions.jsonl", "w", encoding="utf-8") as dst:
        for line in src:
            if line.strip() and json.loads(line)["doc_id"] in keep:
                dst.write(line if line.endswith("\n") else line + "\n")
                questions += 1
    return len(records), questions


def indexed(doc_id: str) -> bool:
    """The split's indexed half: ../shared/bench/tools/split_heldout.py's rule (SHA-256 of the id, last byte even)."""
    return hashlib.sha256(doc_id.encode()).digest()[-1] % 2 == 0


def part(title: str) -> str:
    """'fit' or 'dev': the split's questions are cut by Wikipedia article, so no article is on both sides (what is
    fitted reads the fit part only; the dev part is for measuring)."""
    return "dev" if hashlib.sha256(("part:" + title).encode()).digest()[0] % 2 else "fit"


def prepare_split(source: Path, out: Path, titles: int | None) -> dict[str, int]:
    """out/corpus/corpus.jsonl (the indexed half), out/fit.jsonl and out/dev.jsonl (every question of the part;
    those whose paragraph is not indexed marked unanswerable). titles: only the first N articles of each part."""
    records = [json.loads(line) for line in (source / "corpus.jsonl").read_text(encoding="utf-8").splitlines()
               if line.strip()]
    title_of = {r["id"]: r["title"] for r in records}
    chosen = None
    if titles:
        ordered = list(dict.fromkeys(r["title"] for r in records))
        chosen = {t for name in ("fit", "dev") for t in [t for t in ordered if part(t) == name][:titles]}
    records = [r for r in records if chosen is None or r["title"] in chosen]
    (out / "corpus").mkdir(parents=True, exist_ok=True)
    kept = [r for r in records if indexed(r["id"])]
    with open(out / "corpus" / "corpus.jsonl", "w", encoding="utf-8") as handle:
        handle.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in kept)
    keep = {r["id"] for r in kept}
    counts = {"documents": len(kept)}
    rows: dict[str, list[str]] = {"fit": [], "dev": []}
    with open(source / "questions.jsonl", encoding="utf-8") as src:
        for line in src:
            q = json.loads(line) if line.strip() else None
            if not q or not q["question"].strip() or (chosen is not None and title_of[q["doc_id"]] not in chosen):
                continue
            name = part(title_of[q["doc_id"]])
            row = q if q["doc_id"] in keep else {"id": q["id"], "question": q["question"], "unanswerable": True}
            rows[name].append(json.dumps(row, ensure_ascii=False) + "\n")
            key = f"{name} {'answerable' if q['doc_id'] in keep else 'unanswerable'}"
            counts[key] = counts.get(key, 0) + 1
    for name, lines in rows.items():
        (out / f"{name}.jsonl").write_text("".join(lines), encoding="utf-8")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="the DRCD folder (corpus.jsonl, questions.jsonl)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--docs", type=int, help="keep a fixed subset of this many paragraphs")
    parser.add_argument("--split", action="store_true",
                        help="the abstention split: half the paragraphs, questions in fit.jsonl and dev.jsonl")
    parser.add_argument("--titles", type=int, help="with --split: only the first N articles of each part")
    args = parser.parse_args()
    if args.split:
        print(f"wrote {args.out}: {prepare_split(args.source, args.out, args.titles)}")
        return
    documents, questions = prepare(args.source, args.out, args.docs)
    print(f"wrote {documents} documents to {args.out / 'corpus'} and {questions} questions to "
          f"{args.out / 'questions.jsonl'}")


if __name__ == "__main__":
    main()
