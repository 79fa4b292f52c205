"""Prepare the DRCD benchmark (../shared/bench/drcd) as a qa corpus plus a `qa eval` question file.

    python tools/drcd.py --out .cache/drcd            # all 2,000 paragraphs, 7,017 questions
    python tools/drcd.py --out .cache/drcd-300 --docs 300   # a fixed deterministic subset
    qa index --corpus .cache/drcd/corpus --index-dir .cache/drcd/index
    qa eval .cache/drcd/questions.jsonl --index-dir .cache/drcd/index --compare
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE,
                        help="the DRCD folder (corpus.jsonl, questions.jsonl)")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--docs", type=int, help="keep a fixed subset of this many paragraphs")
    args = parser.parse_args()
    documents, questions = prepare(args.source, args.out, args.docs)
    print(f"wrote {documents} documents to {args.out / 'corpus'} and {questions} questions to "
          f"{args.out / 'questions.jsonl'}")


if __name__ == "__main__":
    main()
