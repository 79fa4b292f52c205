"""Fit the answer-unit model (qa/fitted/<model>/fitted.json): which sentences of the top sources answer.

A conditional logit over each question's candidate sentences (those of its two best sources, as the service sees
them): the score of a sentence is a weighted sum of qa.query.units.FEATURES, and the fit maximises the probability the
softmax over the question's candidates gives its answering sentences. Answering sentences are DRCD's (the sentence
of the gold paragraph holding a gold answer span; questions of the DEV_ half only, the TEST_ half is the check) and
the seed dev set's marked `answer_sentences` (weighted, as it is the only how-to text). Never the held-out set.

    python tools/fit_answer_units.py [--drcd QUESTIONS:INDEX] [--seed QUESTIONS:INDEX] [--write]
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

from qa.config import Settings
from qa.evaluation import Question, load_questions
from qa.fitted import FILE, fitted_dir
from qa.fitted.records import Linear, UnitsFit
from qa.fitted.write import Clock, write_part
from qa.query import faqhits, units
from qa.query.answer import gather_sentences
from qa.service import QAService

SEED_WEIGHT = 10.0  # 64 seed questions beside 3,524 DRCD ones; 10 and 30 measured alike on seed dev (8-fold CV)
L2 = 1.0


@dataclass
class Group:
    """One question's candidates: features and which of them answer."""

    x: np.ndarray
    gold: np.ndarray
    weight: float


def groups(spec: str, weight: float, keep: str | None) -> tuple[list[Group], str]:
    """The questions of QUESTIONS:INDEX with an answering candidate, and the model that index was built with."""
    path, _, index_dir = spec.partition(":")
    service = QAService.load(Settings.load(index_dir=Path(index_dir)))
    retriever = service.retriever
    sources = (service.answer_params or retriever.fitted.answer).sources_considered
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
    return out, retriever.embedder.model_id


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


def top1(data: list[Group], weights: Linear) -> float:
    """Share of questions whose best-scoring candidate answers."""
    return float(np.mean([g.gold[int(np.argmax(weights.margin(g.x)))] for g in data])) if data else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--drcd", default=".cache/drcd/questions.jsonl:.cache/drcd/index",
                        help="DRCD questions and an index of its corpus (prepare with tools/drcd.py)")
    parser.add_argument("--seed", default="eval/seed_dev.jsonl:.cache/seed-index")
    parser.add_argument("--write", action="store_true",
                        help=f"write the answer_units part of qa/fitted/<model>/{FILE} for the indexes' model")
    args = parser.parse_args()
    clock = Clock()
    (drcd, model_id), (seed, seed_model) = groups(args.drcd, 1.0, "DEV_"), groups(args.seed, SEED_WEIGHT, None)
    if seed_model != model_id:
        sys.exit(f"the DRCD index was built with {model_id}, the seed index with {seed_model}: use one model")
    check, _ = groups(args.drcd, 1.0, "TEST_")
    mean, scale, coef = fit(drcd + seed)
    weights = Linear(units.FEATURES, mean.round(6), scale.round(6), coef.round(6))
    for name, value in zip(units.FEATURES, coef, strict=True):
        print(f"{name:>14} {value:+.3f}")
    figures = {"drcd_dev_top1": top1(drcd, weights), "drcd_test_top1": top1(check, weights),
               "seed_dev_top1": top1(seed, weights)}
    print(f"best candidate answers: DRCD DEV_ (fitted) {figures['drcd_dev_top1']:.3f}, DRCD TEST_ "
          f"{figures['drcd_test_top1']:.3f}, seed dev (fitted) {figures['seed_dev_top1']:.3f}")
    if args.write:
        sets = [args.drcd.partition(":")[0], args.seed.partition(":")[0]]
        note = f"DRCD DEV_ questions (TEST_ only checked) and the seed set's answer sentences (weight {SEED_WEIGHT})"
        out = write_part(model_id, "answer_units", UnitsFit(weights, clock.provenance(
            "tools/fit_answer_units.py", model_id, sets, figures, note)))
        print(f"wrote the answer_units part of {out} ({fitted_dir(model_id).name})")


if __name__ == "__main__":
    main()
