"""Fit the answer-unit model (qa/query/answer_units.json): which sentences of the top sources' units answer a question.

A conditional logit over each question's candidate sentences (those of its two best sources, as the service sees
them): the score of a sentence is a weighted sum of qa.query.units.FEATURES, and the fit maximises the probability the
softmax over the question's candidates gives its answering sentences. Answering sentences are DRCD's (the sentence
of the gold paragraph holding a gold answer span; questions of the DEV_ half only, the TEST_ half is the check) and
the seed dev set's marked `answer_sentences` (weighted, as it is the only how-to text). Never the held-out set.

    python tools/fit_answer_units.py [--drcd QUESTIONS:INDEX] [--seed QUESTIONS:INDEX] [--write]
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from qa.config import Settings
from qa.evaluation import Question, load_questions
from qa.query import faqhits, units
from qa.query.answer import AnswerParams, gather_sentences
from qa.query.linear import Weights
from qa.service import QAService

SEED_WEIGHT = 10.0  # 64 seed questions beside 3,524 DRCD ones; 10 and 30 measured alike on seed dev (8-fold CV)
L2 = 1.0
MODEL = Path(__file__).resolve().parent.parent / "qa" / units.MODEL_FILE


@dataclass
class Group:
    """One question's candidates: features and which of them answer."""

    x: np.ndarray
    gold: np.ndarray
    weight: float


def groups(spec: str, weight: float, keep: str | None) -> list[Group]:
    path, _, index_dir = spec.partition(":")
    service = QAService.load(Settings.load(index_dir=Path(index_dir)))
    retriever, sources = service.retriever, AnswerParams().sources_considered
    out = []
    for q in load_questions(Path(path)):
        if q.unanswerable or (keep and not q.id.startswith(keep)):
            continue
        query = retriever.prepare(q.question)
        hits = retriever.rank(query, 5, "hybrid")
        cands = units.candidates(query, gather_sentences(query, faqhits.examine(query, hits[:sources])))
        gold = np.array([_answers(q, c) for c in cands], dtype=bool)
        if gold.any():  # a question whose answer is not among the candidates teaches nothing here
            out.append(Group(units.features(hits, cands), gold, weight))
    print(f"{path}: {len(out)} questions with an answering sentence among the candidates", file=sys.stderr)
    return out


def _answers(q: Question, cand: units.Candidate) -> bool:
    s = cand.sentence
    return (q.doc_id is None or s.doc_id == q.doc_id) and q.is_gold_sentence(s.text)


def fit(data: list[Group]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, scale, coef) maximising the weighted log-probability of each question's answering sentences."""
    stacked = np.vstack([g.x for g in data])
    mean, scale = stacked.mean(0), stacked.std(0) + 1e-9
    xs = [((g.x - mean) / scale, g.gold, g.weight) for g in data]

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        total, grad = L2 * float(w @ w), 2 * L2 * w
        for x, gold, weight in xs:
            z = x @ w
            p = np.exp(z - z.max())
            p /= p.sum()
            p_gold = p[gold].sum()
            total -= weight * np.log(p_gold + 1e-12)
            grad += weight * (p @ x - (p[gold] / p_gold) @ x[gold])
        return total, grad

    coef = minimize(loss, np.zeros(stacked.shape[1]), jac=True, method="L-BFGS-B").x
    return mean, scale, coef


def top1(data: list[Group], model: units.UnitModel) -> float:
    """Share of questions whose best-scoring candidate answers."""
    return float(np.mean([g.gold[int(np.argmax(model.scores(g.x)))] for g in data])) if data else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drcd", default=".cache/drcd/questions.jsonl:.cache/drcd/index",
                        help="DRCD questions and an index of its corpus (prepare with tools/drcd.py)")
    parser.add_argument("--seed", default="eval/seed_dev.jsonl:.cache/seed-index")
    parser.add_argument("--write", action="store_true", help=f"write {MODEL}")
    args = parser.parse_args()
    drcd, seed = groups(args.drcd, 1.0, "DEV_"), groups(args.seed, SEED_WEIGHT, None)
    check = groups(args.drcd, 1.0, "TEST_")
    mean, scale, coef = fit(drcd + seed)
    model = units.UnitModel(Weights(units.FEATURES, mean, scale, coef, raw={}))
    for name, value in zip(units.FEATURES, coef, strict=True):
        print(f"{name:>14} {value:+.3f}")
    print(f"best candidate answers: DRCD DEV_ (fitted) {top1(drcd, model):.3f}, DRCD TEST_ "
          f"{top1(check, model):.3f}, seed dev (fitted) {top1(seed, model):.3f}")
    if args.write:
        MODEL.write_text(json.dumps({"features": list(units.FEATURES), "mean": mean.round(6).tolist(),
                                     "scale": scale.round(6).tolist(), "coef": coef.round(6).tolist()}, indent=1)
                         + "\n", encoding="utf-8")
        print(f"wrote {MODEL}")


if __name__ == "__main__":
    main()
