"""Labelled (question, candidate) pairs for the verifier, read from ../shared/bench and the seed dev set only.

Question matching (same meaning = 1), inference ("does the candidate support the statement" = 1) and reading
comprehension (the sentence holding the answer = 1, its siblings = 0) all become one binary decision. Nothing here
reads LCQMC, AFQMC dev, the DRCD split's dev part or the seed held-out set: those are what the verifier is measured
on.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass
from pathlib import Path

from qa.chunking import split_sentences

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_BENCH = ROOT.parent / "shared" / "bench"

# Licence class per set (../shared/bench/pairs/README.md): a deployer who needs freely usable data refits on "free".
LICENCES = {"oppo": "research-only", "pawsx": "free", "stsb": "free", "cmnli": "free", "ocnli": "research-only",
            "afqmc": "research-only", "drcd": "free", "seed": "project"}
FILES = {"oppo": "pairs/oppo-xiaobu-dev.txt", "pawsx": "pairs/pawsx-zh-dev.tsv", "stsb": "pairs/stsb-zh-train.txt",
         "cmnli": "pairs/cmnli-dev.txt", "ocnli": "pairs/ocnli-dev.txt", "afqmc": "afqmc/train.txt",
         "drcd": "drcd/questions.jsonl"}


@dataclass(frozen=True)
class Pair:
    question: str
    candidate: str
    label: int  # 1: the candidate matches / supports / answers the question
    source: str


def drcd_kept(doc_id: str) -> bool:
    """The half of DRCD that ../shared/bench/tools/split_heldout.py indexes (SHA-256 of the id ends in an even byte)."""
    return hashlib.sha256(doc_id.encode()).digest()[-1] % 2 == 0


def drcd_part(title: str) -> str:
    """'fit' or 'dev': the DRCD split is cut by Wikipedia article, so no article's paragraphs sit on both sides."""
    return "dev" if hashlib.sha256(("part:" + title).encode()).digest()[0] % 2 else "fit"


def read_tsv(path: Path, source: str, header: bool = False) -> list[tuple[str, str, str]]:
    rows = []
    lines = path.read_text(encoding="utf-8").splitlines()[1 if header else 0:]
    for line in lines:
        cols = line.split("\t")
        if len(cols) < 3 or not cols[-3].strip() or not cols[-2].strip():
            continue
        rows.append((cols[-3].strip(), cols[-2].strip(), cols[-1].strip()))
    if not rows:
        raise SystemExit(f"{path}: no pairs read for {source}")
    return rows


def matching_pairs(bench: Path, source: str, rng: random.Random, limit: int | None) -> list[Pair]:
    """Question-matching and inference sets as binary pairs; symmetric sets in a random order."""
    rows = read_tsv(bench / FILES[source], source, header=source == "pawsx")
    pairs = []
    for a, b, label in rows:
        if source in ("cmnli", "ocnli"):
            # The hypothesis is the statement to check, the premise the text that may support it.
            pairs.append(Pair(b, a, int(label == "entailment"), source))
            continue
        if source == "stsb":
            score = float(label)
            if 2.0 < score < 4.0:
                continue
            value = int(score >= 4.0)
        else:
            value = int(label)
        first, second = (a, b) if rng.random() < 0.5 else (b, a)
        pairs.append(Pair(first, second, value, source))
    rng.shuffle(pairs)
    return pairs[:limit] if limit else pairs


def drcd_pairs(bench: Path, rng: random.Random, negatives: int) -> list[Pair]:
    """DRCD fit part: each question against the sentence holding its answer (1), sentences of its paragraph that do
    not hold it and one from another paragraph of the same article (0)."""
    docs = [json.loads(line) for line in (bench / "drcd" / "corpus.jsonl").read_text(encoding="utf-8").splitlines()]
    sentences = {d["id"]: [d["text"][s:e].strip() for s, e in split_sentences(d["text"])] for d in docs}
    title = {d["id"]: d["title"] for d in docs}
    by_title: dict[str, list[str]] = {}
    for d in docs:
        by_title.setdefault(d["title"], []).append(d["id"])
    pairs = []
    for line in (bench / FILES["drcd"]).read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        doc = q["doc_id"]
        if not q["question"].strip() or drcd_part(title[doc]) != "fit":
            continue
        sents = [s for s in sentences[doc] if len(s) >= 4]
        holding = [s for s in sents if any(a in s for a in q["answers"])]
        if len(holding) != 1:  # the answer crosses a sentence end or occurs twice: no clean positive
            continue
        others = [s for s in sents if s not in holding]
        rng.shuffle(others)
        pairs.append(Pair(q["question"], holding[0], 1, "drcd"))
        pairs += [Pair(q["question"], s, 0, "drcd") for s in others[:negatives]]
        siblings = [i for i in by_title[title[doc]] if i != doc]
        if siblings:
            far = [s for s in sentences[rng.choice(siblings)] if len(s) >= 4]
            if far:
                pairs.append(Pair(q["question"], rng.choice(far), 0, "drcd"))
    return pairs


def seed_pairs(dev_file: Path, corpus: Path, rng: random.Random, embed_top: int) -> list[Pair]:
    """Seed dev: answerable questions against their answer sentences (1); every question against its closest other
    corpus sentences by the bundled encoder's cosine (0), the near-misses the service actually meets."""
    from qa.corpus import load_corpus
    from qa.encoders.e5torch import E5TorchEmbedder

    sents = sorted({d.text[s:e].strip() for d in load_corpus(corpus) for s, e in split_sentences(d.text)
                    if e - s >= 6})
    questions = [json.loads(line) for line in dev_file.read_text(encoding="utf-8").splitlines() if line.strip()]
    embedder = E5TorchEmbedder(precision="fp32")
    sims = embedder.encode_queries([q["question"] for q in questions]) @ embedder.encode_passages(sents).T
    pairs = []
    for q, row in zip(questions, sims, strict=True):
        pieces = q.get("answer_sentences") or []
        gold = {s for s in sents if any(p in s for p in pieces)}
        pairs += [Pair(q["question"], s, 1, "seed") for s in sorted(gold)]
        near = [sents[i] for i in row.argsort()[::-1] if sents[i] not in gold][:embed_top]
        pairs += [Pair(q["question"], s, 0, "seed") for s in near]
    rng.shuffle(pairs)
    return pairs
