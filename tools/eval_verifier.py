"""Measure the fitted verifier beside the bundled encoder's cosine on sets it was never fitted on.

Same/different accuracy and ROC-AUC on LCQMC dev and AFQMC dev (thresholds chosen on fit-side pairs the verifier never
trained on: AFQMC train, OPPO and PAWS-X; also the verifier's logit and the cosine stacked by a logistic regression
fitted on those pairs), a QA-style figure on
the DRCD split's dev part (each question against the sentences of its paragraph: pair AUC and how often the
sentence holding the answer ranks first), and the time to score 5 pairs beside one question's encode.

    python tools/eval_verifier.py --bench ../shared/bench [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from tools.fit_verifier import LIMITS, VALIDATION, best_threshold
from tools.verifier_data import DEFAULT_BENCH, Pair, drcd_part, matching_pairs, read_tsv

ANCHORS = {"lcqmc": "BiMPM 0.834 (test), BERT-base 0.87 (test)", "afqmc": "BERT-base 0.737"}


def untrained_fit_pairs(bench: Path) -> list[Pair]:
    """Fit-side question pairs the verifier never trained on: the fit's held-out slices and the AFQMC train pairs past
    its limit, redrawn with the fit's own random sequence (tools/fit_verifier.py reads these sets first, in order)."""
    rng = random.Random(0)
    afqmc, oppo, pawsx = (matching_pairs(bench, name, rng, None) for name in ("afqmc", "oppo", "pawsx"))
    return (afqmc[: VALIDATION["afqmc"]] + afqmc[LIMITS["afqmc"]:][:3000] + oppo[: VALIDATION["oppo"]]
            + pawsx[: VALIDATION["pawsx"]])


@dataclass(frozen=True)
class Cuts:
    cosine: float  # the cosine's best-accuracy cut
    combined: LogisticRegression  # verifier logit + cosine, stacked
    combined_cut: float


def fit_cuts(bench: Path, verifier, embedder) -> Cuts:
    """Thresholds (and the stacked verifier+cosine model) from untrained fit-side pairs, never a measured set."""
    pairs = untrained_fit_pairs(bench)
    labels = np.array([p.label for p in pairs])
    texts = [(p.question, p.candidate) for p in pairs]
    sims, v = cosines(embedder, texts), verifier.score_pairs(texts)
    stack = LogisticRegression().fit(features(v, sims), labels)
    combined = stack.predict_proba(features(v, sims))[:, 1]
    return Cuts(best_threshold(sims, labels), stack, best_threshold(combined, labels))


def features(v: np.ndarray, sims: np.ndarray) -> np.ndarray:
    logit = np.log(np.clip(v, 1e-6, 1 - 1e-6) / np.clip(1 - v, 1e-6, 1))
    return np.column_stack([logit, sims])


def cosines(embedder, pairs: list[tuple[str, str]]) -> np.ndarray:
    """Both sides with the query prefix, as FAQ questions are indexed."""
    a = embedder.encode_queries([p[0] for p in pairs])
    b = embedder.encode_queries([p[1] for p in pairs])
    return np.asarray((a * b).sum(axis=1), dtype=np.float64)


def pair_figures(bench: Path, name: str, path: str, verifier, embedder, cuts: Cuts) -> dict:
    rows = read_tsv(bench / path, name)
    pairs, labels = [(a, b) for a, b, _ in rows], np.array([int(r[2]) for r in rows])
    started = time.perf_counter()
    v = verifier.score_pairs(pairs)
    seconds = time.perf_counter() - started
    c = cosines(embedder, pairs)
    combined = cuts.combined.predict_proba(features(v, c))[:, 1]
    return {"n": len(rows), "majority": round(float(max(labels.mean(), 1 - labels.mean())), 4),
            "verifier_accuracy": round(float(np.mean((v >= verifier.config.threshold) == labels)), 4),
            "verifier_accuracy_at_0.5": round(float(np.mean((v >= 0.5) == labels)), 4),
            "verifier_auc": round(float(roc_auc_score(labels, v)), 4),
            "cosine_accuracy": round(float(np.mean((c >= cuts.cosine) == labels)), 4),
            "combined_accuracy": round(float(np.mean((combined >= cuts.combined_cut) == labels)), 4),
            "combined_auc": round(float(roc_auc_score(labels, combined)), 4),
            "cosine_auc": round(float(roc_auc_score(labels, c)), 4),
            "verifier_ms_per_pair": round(1000 * seconds / len(rows), 2), "anchor": ANCHORS[name]}


def drcd_dev(bench: Path, verifier, embedder, limit: int) -> dict:
    """DRCD split dev part: each question against every sentence of its own paragraph."""
    from qa.chunking import split_sentences

    docs = {d["id"]: d for d in map(json.loads, (bench / "drcd" / "corpus.jsonl").read_text("utf-8").splitlines())}
    groups = []
    for line in (bench / "drcd" / "questions.jsonl").read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        doc = docs[q["doc_id"]]
        if not q["question"].strip() or drcd_part(doc["title"]) != "dev":
            continue
        sents = [doc["text"][s:e].strip() for s, e in split_sentences(doc["text"])]
        sents = [s for s in sents if len(s) >= 4]
        gold = [int(any(a in s for a in q["answers"])) for s in sents]
        if sum(gold) == 1:
            groups.append((q["question"], sents, np.array(gold)))
    groups = random.Random(2).sample(groups, min(limit, len(groups)))
    out = {"questions": len(groups)}
    for name in ("verifier", "cosine"):
        scores = []
        for question, sents, _ in groups:
            if name == "verifier":
                scores.append(verifier.score(question, sents))
            else:
                scores.append(embedder.encode_passages(sents) @ embedder.encode_queries([question])[0])
        labels = np.concatenate([g[2] for g in groups])
        out[f"{name}_pair_auc"] = round(float(roc_auc_score(labels, np.concatenate(scores))), 4)
        out[f"{name}_top1"] = round(float(np.mean([g[2][int(np.argmax(s))] for g, s in zip(groups, scores,
                                                                                            strict=True)])), 4)
    return out


def timing(verifier, embedder, reps: int) -> dict:
    """Median ms of scoring 5 sentence candidates against one encode of the question, interleaved in one run."""
    question = "怎么注销工行数字钱包账户？"
    candidates = ["在使用数字钱包进行支付前，请确保账户余额充足。", "如果余额不足，支付自然而然就会失败。",
                  "不同账户的支付限额各不相同，超出限额的交易会被拒绝。",
                  "由于服务器维护或升级，系统可能暂时无法处理支付请求。",
                  "在某些情况下，支付需要额外的身份验证，例如短信验证码或指纹。"]
    verifier.score(question, candidates)
    embedder.encode_queries([question])
    score_ms, encode_ms = [], []
    for _ in range(reps):
        t = time.perf_counter()
        verifier.score(question, candidates)
        score_ms.append(1000 * (time.perf_counter() - t))
        t = time.perf_counter()
        embedder.encode_queries([question])
        encode_ms.append(1000 * (time.perf_counter() - t))
    s, e = statistics.median(score_ms), statistics.median(encode_ms)
    return {"score_5_ms": round(s, 1), "encode_1_ms": round(e, 1), "ratio": round(s / e, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH)
    parser.add_argument("--drcd-questions", type=int, default=600, help="DRCD dev questions to score")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    from qa.encoders.e5torch import E5TorchEmbedder
    from qa.query.verifier import Verifier

    embedder = E5TorchEmbedder(precision="fp32")
    verifier = Verifier(embedder.model_id)
    report = {"model_id": embedder.model_id, "timing": timing(verifier, embedder, 30)}
    cuts = fit_cuts(args.bench, verifier, embedder)
    report["cosine_threshold"] = round(cuts.cosine, 4)
    report["combined"] = {"coef_logit_cosine": [round(float(x), 4) for x in cuts.combined.coef_[0]],
                          "intercept": round(float(cuts.combined.intercept_[0]), 4), "cut": round(cuts.combined_cut, 4)}
    report["verifier_threshold"] = verifier.config.threshold
    for name, path in (("lcqmc", "lcqmc/dev.txt"), ("afqmc", "afqmc/dev.txt")):
        report[name] = pair_figures(args.bench, name, path, verifier, embedder, cuts)
        print(name, report[name], flush=True)
    report["drcd_split_dev"] = drcd_dev(args.bench, verifier, embedder, args.drcd_questions)
    print(json.dumps(report, ensure_ascii=False, indent=1))
    if args.json:
        args.json.write_text(json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
