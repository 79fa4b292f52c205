"""Fit the cosine threshold `qa gaps` groups questions by (qa/fitted/<model>/fitted.json), on public question pairs.

    python tools/fit_gap_threshold.py [--model e5-torch] [--cache-dir .cache/emb] [--write]

Two questions are one need when the cosine of their query embeddings (the index's model, as the service encodes a
question) is at least the threshold. It is fitted on LCQMC dev (8,802 pairs of Baidu Zhidao questions labelled same
intent or not, ../shared/bench/lcqmc/dev.txt): the threshold with the best F1 of "same intent". AFQMC dev (4,316
payment questions, ../shared/bench/afqmc/dev.txt) is only scored with it, never used to choose it: the check on
the domain of the seed corpus. Embeddings are cached (the model's query vectors, keyed apart from passages).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from qa.encoders import PASSAGE_TEXT_VERSION, load_embedder, passage_text
from qa.fitted import FILE
from qa.fitted.records import GapThreshold
from qa.fitted.write import BENCH, Clock, write_part
from qa.index.cache import CachedEncoder, EmbeddingCache

ROOT = Path(__file__).resolve().parent.parent
GRID = np.round(np.arange(0.90, 0.995, 0.0025), 4)


def pairs(path: Path) -> tuple[list[tuple[str, str]], np.ndarray]:
    texts, labels = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        a, b, label = line.split("\t")
        texts.append((a, b))
        labels.append(label == "1")
    return texts, np.array(labels)


def cosines(encoder: CachedEncoder, texts: list[tuple[str, str]]) -> np.ndarray:
    unique = list(dict.fromkeys(t for pair in texts for t in pair))
    vectors, hits = encoder.encode(unique)
    print(f"  {len(unique)} questions, {hits} from the cache")
    row = {t: i for i, t in enumerate(unique)}
    return np.array([float(vectors[row[a]] @ vectors[row[b]]) for a, b in texts])


def scores(sims: np.ndarray, same: np.ndarray, threshold: float) -> dict[str, float]:
    predicted = sims >= threshold
    tp = int((predicted & same).sum())
    precision = tp / max(1, int(predicted.sum()))
    recall = tp / max(1, int(same.sum()))
    f1 = 2 * precision * recall / max(1e-12, precision + recall)
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "accuracy": round(float((predicted == same).mean()), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="e5-torch")
    parser.add_argument("--cache-dir", type=Path, default=ROOT / ".cache" / "emb")
    parser.add_argument("--fit", type=Path, default=BENCH / "lcqmc" / "dev.txt")
    parser.add_argument("--check", type=Path, default=BENCH / "afqmc" / "dev.txt")
    parser.add_argument("--write", action="store_true",
                        help=f"write the gap_threshold part of qa/fitted/<model>/{FILE}")
    args = parser.parse_args()
    clock = Clock()
    embedder = load_embedder(args.model)
    with EmbeddingCache(args.cache_dir / "embedding-cache.sqlite", embedder.model_id, embedder.dim) as cache:
        encoder = CachedEncoder(embedder, cache, prepare=passage_text, prepare_version=PASSAGE_TEXT_VERSION,
                                queries=True)
        print(f"fit: {args.fit}")
        fit_texts, fit_same = pairs(args.fit)
        fit_sims = cosines(encoder, fit_texts)
        print(f"check: {args.check}")
        check_texts, check_same = pairs(args.check)
        check_sims = cosines(encoder, check_texts)
    print(f"{'threshold':>9}  fit P / R / F1 / acc          check P / R / F1 / acc")
    table = [(t, scores(fit_sims, fit_same, t), scores(check_sims, check_same, t)) for t in GRID]
    for t, fit, check in table:
        print(f"{t:9.3f}  {_row(fit):28}  {_row(check)}")
    best, fit, check = max(table, key=lambda row: (row[1]["f1"], row[0]))
    print(f"chosen (best fit F1): {best}  fit {fit}  check {check}")
    if args.write:
        figures = {**{f"fit_{k}": v for k, v in fit.items()}, **{f"check_{k}": v for k, v in check.items()}}
        provenance = clock.provenance("tools/fit_gap_threshold.py", embedder.model_id, [args.fit, args.check],
                                      figures, "best F1 of same intent on the fit set; the check set only scored")
        out = write_part(embedder.model_id, "gap_threshold", GapThreshold(float(best), provenance))
        print(f"wrote the gap_threshold part of {out}")


def _row(s: dict[str, float]) -> str:
    return f"{s['precision']:.3f} / {s['recall']:.3f} / {s['f1']:.3f} / {s['accuracy']:.3f}"


if __name__ == "__main__":
    main()
