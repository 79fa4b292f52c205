"""How well answerability's probability is calibrated on a question set: Brier score and a reliability table.

Each question is asked through the service as the API asks it; the label is whether the set says it is answerable
(an answerable question's probability should be high). Report-only: nothing is fitted here.

    python tools/calibration.py --index-dir .cache/seed-index eval/seed_dev.jsonl [--bins 5]
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np

from qa.config import Settings
from qa.evaluation import load_questions
from qa.service import QAService


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("questions", type=Path)
    parser.add_argument("--index-dir", type=Path, required=True)
    parser.add_argument("--bins", type=int, default=5)
    args = parser.parse_args()
    service = QAService.load(Settings.load(index_dir=args.index_dir))
    questions = load_questions(args.questions)
    p = np.array([service.ask(q.question).answerability or 0.0 for q in questions])
    y = np.array([0.0 if q.unanswerable else 1.0 for q in questions])
    print(f"{args.questions}: {len(y)} questions, {int(y.sum())} answerable; Brier score {np.mean((p - y) ** 2):.4f} "
          f"(always {y.mean():.2f}: {np.mean((y.mean() - y) ** 2):.4f})")
    print("| probability | questions | mean probability | answerable share |\n| --- | --- | --- | --- |")
    edges = np.linspace(0.0, 1.0, args.bins + 1)
    for low, high in itertools.pairwise(edges):
        inside = (p >= low) & ((p < high) if high < 1.0 else (p <= high))
        if inside.any():
            print(f"| {low:.1f}–{high:.1f} | {int(inside.sum())} | {p[inside].mean():.3f} | {y[inside].mean():.3f} |")


if __name__ == "__main__":
    main()
