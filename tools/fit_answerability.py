"""Refit the answerability model (qa/fitted/<model>/fitted.json) on the seed DEV set: logistic regression, CV.

Features come from the same code the service runs (`qa.query.answerability.features`). The held-out set, when given, is
only scored with the fitted model, never used to fit or to choose anything.

    python tools/fit_answerability.py --index-dir .cache/seed-index [--heldout eval/seed_heldout.jsonl] [--write]

The shipped model (default --features) leaves out `dense`: added to the others it lowered the dev out-of-fold AUC.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from qa.config import Settings
from qa.evaluation import load_questions
from qa.fitted import FILE
from qa.fitted.records import AnswerabilityFit, Linear
from qa.fitted.write import Clock, write_part
from qa.query import answerability, faqhits
from qa.query.answer import gather_sentences
from qa.service import QAService

MAX_FALSE_ABSTENTION = 0.05  # the bar for answerable questions that abstain


def feature_rows(service: QAService, path: Path, names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows, labels, ids = [], [], []
    params = service.answer_params or service.retriever.fitted.answer
    for q in load_questions(path):
        query = service.retriever.prepare(q.question)
        hits = service.retriever.rank(query, 5, "hybrid")
        sentences = gather_sentences(query, faqhits.examine(query, hits[: params.sources_considered]))
        values = answerability.features(service.retriever, query, hits, sentences)
        rows.append([values[name] for name in names])
        labels.append(0 if q.unanswerable else 1)
        ids.append(q.id)
    return np.array(rows), np.array(labels), ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--dev", type=Path, default=Path("eval/seed_dev.jsonl"))
    parser.add_argument("--heldout", type=Path)
    parser.add_argument("--features", help=f"comma-separated subset of {', '.join(answerability.FEATURES)} "
                                           "(default: those of the model's fitted one, else all but dense)")
    parser.add_argument("--c", type=float, default=1.0, help="inverse L2 regularisation strength")
    parser.add_argument("--write", action="store_true",
                        help=f"write the answerability part of qa/fitted/<model>/{FILE} for the index's model")
    parser.add_argument("--dump", action="store_true", help="print each dev question's features and p")
    args = parser.parse_args()
    clock = Clock()
    service = QAService.load(Settings.load(index_dir=args.index_dir))
    model_id = service.retriever.embedder.model_id
    shipped = service.retriever.fitted.answerability
    default = shipped.weights.features if shipped else tuple(f for f in answerability.FEATURES if f != "dense")
    names = tuple(args.features.split(",")) if args.features else default
    x, y, ids = feature_rows(service, args.dev, names)
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale == 0] = 1.0
    z = (x - mean) / scale
    model = LogisticRegression(C=args.c, class_weight="balanced", max_iter=1000)
    oof = cross_val_predict(model, z, y, cv=StratifiedKFold(5, shuffle=True, random_state=0),
                            method="predict_proba")[:, 1]
    # the highest threshold that still answers all but MAX_FALSE_ABSTENTION of the answerable dev questions
    answerable = np.sort(oof[y == 1])
    threshold = float(answerable[int(np.floor(MAX_FALSE_ABSTENTION * len(answerable)))])
    figures = {"dev_oof_auc": float(roc_auc_score(y, oof)), "max_false_abstention_oof": MAX_FALSE_ABSTENTION}
    print(f"dev out-of-fold AUC {figures['dev_oof_auc']:.4f}, threshold {threshold:.4f}: "
          f"answerable abstain {np.mean(oof[y == 1] < threshold):.3f}, "
          f"unanswerable abstain {np.mean(oof[y == 0] < threshold):.3f}")
    model.fit(z, y)
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
        hx, hy, _ = feature_rows(service, args.heldout, names)
        gate = AnswerabilityFit(weights, intercept, threshold, clock.provenance("", model_id, [], {}))
        hp = np.array([answerability.probability(gate, dict(zip(names, r, strict=True))) for r in hx])
        figures["heldout_auc"] = float(roc_auc_score(hy, hp))  # reported, never used to choose
        print(f"held-out AUC {figures['heldout_auc']:.4f}: answerable abstain {np.mean(hp[hy == 1] < threshold):.3f}, "
              f"unanswerable abstain {np.mean(hp[hy == 0] < threshold):.3f}")
    if args.write:
        provenance = clock.provenance("tools/fit_answerability.py", model_id, [args.dev], figures,
                                      "the threshold keeps at most 5% of the dev answerable questions from abstaining "
                                      "out of fold" + ("; held-out only scored" if args.heldout else ""))
        out = write_part(model_id, "answerability", AnswerabilityFit(weights, intercept, threshold, provenance))
        print(f"wrote the answerability part of {out}")

if __name__ == "__main__":
    main()
