"""Tune how the verifier is used (the `verifier` part of qa/fitted/<model>/fitted.json): its rerank weight and the
probability an FAQ entry needs to be offered as "你是不是想问：…", on fit sets only.

Each set is an index and its questions (`INDEX_DIR=QUESTIONS`). The verifier reads the first --top hits of each
question once (--per-hit candidates each); every weight of the grid then re-sorts them by fused evidence plus
weight times its probability, and the weight with the best mean recall@1 over the sets wins (the smallest on a tie).
The suggestion floor is the --suggest-quantile of the probability of the right entry, among the paraphrases of
the FAQ sets whose entry the verifier read: so that most right entries are offered when the answer abstains.

    python tools/tune_verifier.py --set .cache/seed-index=eval/seed_dev.jsonl \\
        --set .cache/drcd-split/index=.cache/drcd-split/fit.jsonl \\
        --set .cache/oppo-faq/index=.cache/oppo-faq/questions.jsonl --write
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.evaluation import Question, load_questions
from qa.fitted.records import VerifierFit, VerifierParams
from qa.fitted.write import Clock, write_part
from qa.query import faqhits, verify
from qa.service import QAService

WEIGHTS = (0.0, 0.05, 0.1, 0.2, 0.3, 0.5, 0.8, 1.2, 2.0)


@dataclass(frozen=True)
class Read:
    """One answerable question's first hits as read: fused evidence, verifier probability, which is gold, FAQ."""

    hybrid: np.ndarray
    probability: np.ndarray
    gold: np.ndarray
    faq: np.ndarray


def read_set(index_dir: Path, questions: Path, params: VerifierParams, limit: int | None) -> tuple[str, list[Read]]:
    """The index's model id and its answerable questions as read."""
    service = QAService.load(Settings.load(index_dir=index_dir))
    retriever = service.retriever
    verifier = verify.verifier_for(retriever.embedder.model_id)
    out = []
    for q in [q for q in load_questions(questions) if not q.unanswerable][:limit]:
        query = retriever.prepare(q.question)
        found = faqhits.examine(query, retriever.rank(query, params.top, "hybrid"))
        checked = verify.check(verifier, query, found, VerifierParams(params.top, params.per_hit, 0.0, 1.0))
        out.append(Read(np.array([c.found.hit.signals.hybrid for c in checked]),
                        np.array([c.probability or 0.0 for c in checked]),
                        np.array([_gold(q, c.found) for c in checked]), np.array([c.found.is_faq for c in checked])))
    return retriever.embedder.model_id, out


def _gold(q: Question, found: faqhits.Found) -> bool:
    return found.doc.doc_id == q.doc_id if q.doc_id is not None else any(g in found.hit.chunk.text for g in q.gold)


def recall_at_1(reads: list[Read], weight: float) -> float:
    return float(np.mean([r.gold[int(np.argmax(r.hybrid + weight * r.probability))] for r in reads if len(r.gold)]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, metavar="INDEX_DIR=QUESTIONS")
    parser.add_argument("--top", type=int, default=3, help="hits the verifier reads per question")
    parser.add_argument("--per-hit", type=int, default=2, help="candidates it reads per hit")
    parser.add_argument("--suggest-quantile", type=float, default=0.1)
    parser.add_argument("--limit", type=int, help="at most this many answerable questions per set")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    clock = Clock()
    base = VerifierParams(args.top, args.per_hit, 0.0, 1.0)
    done = {spec: read_set(*map(Path, spec.split("=", 1)), base, args.limit) for spec in args.set}
    model_id = next(iter(done.values()))[0]
    sets = {spec: reads for spec, (_, reads) in done.items()}
    table = {w: [recall_at_1(reads, w) for reads in sets.values()] for w in WEIGHTS}
    for w, row in table.items():
        print(f"weight {w:4.2f}: recall@1 " + " ".join(f"{v:.4f}" for v in row) + f"  mean {np.mean(row):.4f}")
    best = max(WEIGHTS, key=lambda w: (round(float(np.mean(table[w])), 4), -w))
    right = [float(r.probability[i]) for reads in sets.values() for r in reads for i in np.flatnonzero(r.gold & r.faq)]
    floor = float(np.quantile(right, args.suggest_quantile)) if right else 0.5
    print(f"chosen weight {best} (recall@1 {np.mean(table[0.0]):.4f} -> {np.mean(table[best]):.4f}); suggestion "
          f"floor {floor:.4f} from {len(right)} right FAQ entries read")
    if args.write:
        params = VerifierParams(args.top, args.per_hit, best, round(floor, 4))
        figures = {f"recall@1 {Path(spec.split('=', 1)[1]).stem} before": table[0.0][i] for i, spec in
                   enumerate(sets)} | {f"recall@1 {Path(spec.split('=', 1)[1]).stem} after": table[best][i]
                                       for i, spec in enumerate(sets)}
        provenance = clock.provenance("tools/tune_verifier.py", model_id, [s.split("=", 1)[1] for s in args.set],
                                      figures, f"weights {WEIGHTS}; suggestion floor: quantile "
                                               f"{args.suggest_quantile} of the right FAQ entries' probability")
        print(f"wrote the verifier part of {write_part(model_id, 'verifier', VerifierFit(params, provenance))}")


if __name__ == "__main__":
    main()
