"""Refit the answerability model (qa/fitted/<model>/fitted.json) on dev sets: logistic regression, CV.

Features come from the same code the service runs (`qa.query.answerability.features`, after the verifier read the
first hits when one is fitted). Several fit sets (`--set INDEX_DIR=QUESTIONS`, each an index and its questions)
weigh alike whatever their size; the threshold is the highest that keeps at most 5% of every set's answerable
questions from abstaining, out of fold. The held-out set, when given, is only scored with the fitted model, never
used to fit or to choose anything.

    python tools/fit_answerability.py --index-dir .cache/seed-index [--heldout eval/seed_heldout.jsonl] [--write]
    python tools/fit_answerability.py --set .cache/seed-index=eval/seed_dev.jsonl \\
        --set .cache/drcd-split/index=.cache/drcd-split/fit.jsonl \\
        --set .cache/oppo-faq/index=.cache/oppo-faq/questions.jsonl --heldout eval/seed_heldout.jsonl --write

The shipped model (default --features) leaves out `dense`: added to the others it lowered the dev out-of-fold AUC.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from qa.config import Settings
from qa.evaluation import load_questions
from qa.fitted import FILE
from qa.fitted.records import AnswerabilityFit, Linear
from qa.fitted.write import Clock, write_part
from qa.query import answerability, faqhits, verify
from qa.query.answer import gather_sentences
from qa.service import QAService

MAX_FALSE_ABSTENTION = 0.05  # the bar for answerable questions that abstain


def feature_rows(service: QAService, path: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows, labels, ids = [], [], []
    params = service.answer_params or service.retriever.fitted.answer
    for q in load_questions(path):
        query = service.retriever.prepare(q.question)
        found = verify.with_scores(verify.read(service.retriever, query,
                                               faqhits.examine(query, service.retriever.rank(query, 5, "hybrid"))))
        sentences = gather_sentences(query, found[: params.sources_considered])
        values = answerability.features(service.retriever, query, [f.hit for f in found], sentences)
        rows.append([values[name] for name in names])
        labels.append(0 if q.unanswerable else 1)
        ids.append(q.id)
    return np.array(rows), np.array(labels), ids


def out_of_fold(z: np.ndarray, y: np.ndarray, weight: np.ndarray, c: float) -> np.ndarray:
    """Each row's probability from a model fitted without its fold (5 folds, stratified)."""
    oof = np.zeros(len(y))
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(z, y):
        model = LogisticRegression(C=c, class_weight="balanced", max_iter=1000)
        model.fit(z[train], y[train], sample_weight=weight[train])
        oof[test] = model.predict_proba(z[test])[:, 1]
    return oof


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, help="the seed index, with --dev (when no --set is given)")
    parser.add_argument("--dev", type=Path, default=Path("eval/seed_dev.jsonl"))
    parser.add_argument("--set", action="append", metavar="INDEX_DIR=QUESTIONS", help="a fit set (repeatable)")
    parser.add_argument("--heldout", type=Path, help="scored on the first set's index, never used to fit")
    parser.add_argument("--features", help=f"comma-separated subset of {', '.join(answerability.FEATURES)} "
                                           "(default: those of the model's fitted one, else all but dense)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation strength")
    parser.add_argument("--write", action="store_true",
                        help=f"write the answerability part of qa/fitted/<model>/{FILE} for the index's model")
    parser.add_argument("--dump", action="store_true", help="print each dev question's features and p")
    args = parser.parse_args()
    specs = [tuple(map(Path, s.split("=", 1))) for s in args.set or []] or [(args.index_dir, args.dev)]
    if specs[0][0] is None:
        parser.error("give --index-dir (with --dev) or one --set INDEX_DIR=QUESTIONS or more")
    clock = Clock()
    services = {index: QAService.load(Settings.load(index_dir=index)) for index, _ in specs}
    first = services[specs[0][0]]
    model_id = first.retriever.embedder.model_id
    shipped = first.retriever.fitted.answerability
    default = shipped.weights.features if shipped else tuple(f for f in answerability.FEATURES if f != "dense")
    names = tuple(args.features.split(",")) if args.features else default
    parts = [feature_rows(services[index], questions, names) for index, questions in specs]
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    ids = [i for p in parts for i in p[2]]
    which = np.concatenate([np.full(len(p[1]), n) for n, p in enumerate(parts)])
    weight = np.concatenate([np.full(len(p[1]), len(x) / (len(parts) * len(p[1]))) for p in parts])
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    oof = out_of_fold(z, y, weight, args.c)
    # the highest threshold that still answers all but MAX_FALSE_ABSTENTION of every set's answerable questions
    threshold = min(float(np.quantile(oof[(which == n) & (y == 1)], MAX_FALSE_ABSTENTION)) for n in range(len(parts)))
    figures: dict[str, float] = {"max_false_abstention_oof": MAX_FALSE_ABSTENTION}
    for n, (_, questions) in enumerate(specs):
        mine = which == n
        name = questions.stem
        figures[f"{name} oof_auc"] = float(roc_auc_score(y[mine], oof[mine])) if len(set(y[mine])) > 1 else 0.0
        figures[f"{name} answerable abstain"] = float(np.mean(oof[mine & (y == 1)] < threshold))
        if (mine & (y == 0)).any():
            figures[f"{name} unanswerable abstain"] = float(np.mean(oof[mine & (y == 0)] < threshold))
        print(f"{questions}: out-of-fold AUC {figures[f'{name} oof_auc']:.4f}, answerable abstain "
              f"{figures[f'{name} answerable abstain']:.3f}, unanswerable abstain "
              f"{figures.get(f'{name} unanswerable abstain', float('nan')):.3f}")
    print(f"threshold {threshold:.4f}")
    model = LogisticRegression(C=args.c, class_weight="balanced", max_iter=1000)
    model.fit(z, y, sample_weight=weight)
    coef = model.coef_[0]
    for name, c in zip(names, coef, strict=True):
        print(f"  {name:18s} {c:+.3f}")
    if args.dump:
        p = model.predict_proba(z)[:, 1]
        for qid, row, label, prob, out in zip(ids, x, y, p, oof, strict=True):
            print(qid, label, f"p={prob:.3f} oof={out:.3f}", " ".join(f"{v:.3f}" for v in row))
    weights = Linear(names, mean.round(6), scale.round(6), coef.round(6))
    intercept, threshold = round(float(model.intercept_[0]), 6), round(threshold, 6)
    if args.heldout:
        hx, hy, _ = feature_rows(first, args.heldout, names)
        gate = AnswerabilityFit(weights, intercept, threshold, clock.provenance("", model_id, [], {}))
        hp = np.array([answerability.probability(gate, dict(zip(names, r, strict=True))) for r in hx])
        figures["heldout_auc"] = float(roc_auc_score(hy, hp))  # reported, never used to choose
        print(f"held-out AUC {figures['heldout_auc']:.4f}: answerable abstain {np.mean(hp[hy == 1] < threshold):.3f}, "
              f"unanswerable abstain {np.mean(hp[hy == 0] < threshold):.3f}")
    if args.write:
        provenance = clock.provenance("tools/fit_answerability.py", model_id, [q for _, q in specs], figures,
                                      "the threshold keeps at most 5% of each fit set's answerable questions from "
                                      "abstaining out of fold; sets weigh alike"
                                      + ("; held-out only scored" if args.heldout else ""))
        out = write_part(model_id, "answerability", AnswerabilityFit(weights, intercept, threshold, provenance))
        print(f"wrote the answerability part of {out}")


if __name__ == "__main__":
    main()
