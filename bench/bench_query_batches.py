"""Query encode cost by batch size and OpenMP threads: what micro-batching can gain, in CPU ms per question.

Run from the repository root:  .venv/bin/python bench/bench_query_batches.py [--threads 1,2] [--batches 1,2,4,8,16,32]
Each thread count runs in its own child process (libgomp reads OMP_NUM_THREADS once, when the engine loads).
CPU time (process_time), unlike wall time, barely moves when other programs share the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

CHILD = """
import json, statistics, sys, time
from qa.config import Settings
from qa.encoders import load_embedder
from qa.encoders import passage_text
questions, batches, repeat = json.loads(sys.stdin.read())
texts = [passage_text(q) for q in questions] * repeat
embedder = load_embedder(Settings.load().model)  # the model `qa serve` would load (QA_MODEL or the default)
embedder.encode_queries(texts[:1])
out = {}
for size in batches:
    cpu, wall = [], []
    for start in range(0, len(texts) - size + 1, size):
        t0, c0 = time.perf_counter(), time.process_time()
        embedder.encode_queries(texts[start:start + size])
        wall.append((time.perf_counter() - t0) * 1000 / size)
        cpu.append((time.process_time() - c0) * 1000 / size)
    out[size] = [round(statistics.median(cpu), 1), round(statistics.median(wall), 1)]
print(json.dumps(out))
"""


def encode_costs(questions: list[str], batches: list[int], repeat: int, threads: int,
                 wait_policy: str = "PASSIVE") -> dict[int, tuple[float, float]]:
    """{batch size: (median CPU ms, median wall ms) per question} of the configured model's query encodes, in a
    child process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads), "OMP_WAIT_POLICY": wait_policy}
    done = subprocess.run([sys.executable, "-c", CHILD], input=json.dumps([questions, batches, repeat]),
                          text=True, capture_output=True, cwd=ROOT, env=env, check=True)
    return {int(size): (cpu, wall) for size, (cpu, wall) in json.loads(done.stdout).items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=Path, default=ROOT / "eval" / "seed_dev.jsonl")
    parser.add_argument("--threads", default="1,2", help="OMP_NUM_THREADS values, comma-separated")
    parser.add_argument("--wait-policy", default="PASSIVE", choices=("PASSIVE", "ACTIVE"))
    parser.add_argument("--batches", default="1,2,4,8,16,32", help="batch sizes, comma-separated")
    parser.add_argument("--repeat", type=int, default=3, help="passes over the questions")
    args = parser.parse_args()
    lines = args.questions.read_text(encoding="utf-8").splitlines()
    questions = [json.loads(line)["question"] for line in lines if line.strip()]
    batches = [int(b) for b in args.batches.split(",")]
    print(f"load average {os.getloadavg()[0]:.2f}; {len(questions)} questions x {args.repeat}; "
          f"OMP_WAIT_POLICY={args.wait_policy}")
    print(f"{'threads':>8}{'batch':>7}{'CPU ms/q':>10}{'wall ms/q':>11}{'CPU vs batch 1':>16}")
    for threads in args.threads.split(","):
        figures = encode_costs(questions, batches, args.repeat, int(threads), args.wait_policy)
        single = figures[batches[0]][0]
        for size in batches:
            cpu, wall = figures[size]
            print(f"{threads:>8}{size:>7}{cpu:>10}{wall:>11}{cpu / single:>16.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
