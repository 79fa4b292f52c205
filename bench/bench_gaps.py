"""`qa gaps` over 100,000 synthetic events in 4 files: wall time of the whole command with the embeddings cached.

    python bench/bench_gaps.py [--events 100000] [--files 4] [--runs 3] [--index-dir .cache/seed-index]
                               [--cache-dir .cache/emb] [--json out.json]

The events are made from public question sets in ../shared/bench: each unmet need is a pair of LCQMC or AFQMC
questions labelled as the same intent (two wordings of one need), asked with Zipf-distributed frequencies, and
abstained; answered questions are DRCD questions, 10% of them with feedback of which a third says unhelpful. They are
written by the service's own EventLog (one writer per file, as four workers would), one UTC day, questions masked.

The first `qa gaps` run embeds the unmet wordings into the cache (reported as `cold`); the next `--runs` runs are
timed with the cache warm and their median is the figure. The baseline, measured in the same run, is `qa gaps`
over an empty events directory: what loading the model and the index costs before any event is read.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from qa.events.log import EventLog
from qa.events.records import FeedbackEvent, QuestionEvent, SourceRef, iso

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATA = Path(__file__).resolve().parents[2] / "shared" / "bench"  # ../shared/bench beside the repository

DAY = datetime(2026, 3, 2, tzinfo=UTC)
ANSWERED_SHARE = 0.6
FEEDBACK_SHARE = 0.1
UNHELPFUL_SHARE = 1 / 3


def positive_pairs(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        a, b, label = line.split("\t")
        if label == "1" and a != b:
            pairs.append((a, b))
    return pairs


def drcd_questions() -> list[str]:
    lines = (BENCH_DATA / "drcd" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines]


def write_events(directory: Path, total: int, files: int, needs: int, seed: int = 17) -> dict[str, int]:
    """Synthetic events in `files` files (one EventLog per host name); returns what was written."""
    rng = random.Random(seed)
    pairs = positive_pairs(BENCH_DATA / "lcqmc" / "dev.txt") + positive_pairs(BENCH_DATA / "afqmc" / "dev.txt")
    rng.shuffle(pairs)
    pairs = pairs[:needs]
    zipf = [1 / (rank + 1) for rank in range(len(pairs))]
    answered = drcd_questions()
    logs = [EventLog(directory, host=f"replica{i + 1}") for i in range(files)]
    counts = {"questions": 0, "abstained": 0, "feedback": 0, "unhelpful": 0}
    for i in range(total):
        at = DAY + timedelta(seconds=86_399 * i / total)
        log = logs[i % files]
        request_id = f"r{i:07d}"
        if rng.random() < ANSWERED_SHARE:
            event = _question(request_id, at, rng.choice(answered), True)
            log.write(event)
            if rng.random() < FEEDBACK_SHARE:
                helpful = rng.random() >= UNHELPFUL_SHARE
                log.write(FeedbackEvent.of(request_id, helpful, None, True, at + timedelta(seconds=1)))
                counts["feedback"] += 1
                counts["unhelpful"] += not helpful
        else:
            pair = rng.choices(pairs, weights=zipf)[0]
            log.write(_question(request_id, at, rng.choice(pair), False))
            counts["abstained"] += 1
        counts["questions"] += 1
    for log in logs:
        log.close()
    return counts


def _question(request_id: str, at: datetime, question: str, answered: bool) -> QuestionEvent:
    return QuestionEvent(time=iso(at), request_id=request_id, channel="api", question=question, answered=answered,
                         answerability=0.8 if answered else 0.1,
                         sources=(SourceRef("icbc-wallet/payment-failure", "passage", 1.3),),
                         build_id="synthetic", took_ms=15.0)


def run_gaps(events: Path, index_dir: Path, cache_dir: Path | None) -> tuple[float, dict[str, Any]]:
    command = [sys.executable, "-m", "qa.cli", "gaps", str(events), "--since", "all", "--json",
               "--index-dir", str(index_dir)]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"qa gaps failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds, json.loads(done.stdout)


def ensure_index(index_dir: Path, cache_dir: Path | None) -> None:
    if (index_dir / "current" / "manifest.json").exists():
        return
    command = [sys.executable, "-m", "qa.cli", "index", "--corpus", str(ROOT / "corpus"), "--index-dir",
               str(index_dir)]
    if cache_dir is not None:
        command += ["--cache-dir", str(cache_dir)]
    subprocess.run(command, check=True, cwd=ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--needs", type=int, default=4000, help="distinct unmet needs (two wordings each)")
    parser.add_argument("--runs", type=int, default=3, help="timed runs with the cache warm")
    parser.add_argument("--index-dir", type=Path, default=ROOT / ".cache" / "seed-index")
    parser.add_argument("--cache-dir", type=Path, help="embedding cache (default: the index directory's)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    ensure_index(args.index_dir, args.cache_dir)
    with tempfile.TemporaryDirectory(prefix="bench-gaps-") as tmp:
        events, empty = Path(tmp) / "events", Path(tmp) / "empty"
        empty.mkdir()
        started = time.perf_counter()
        written = write_events(events, args.events, args.files, args.needs)
        write_seconds = time.perf_counter() - started
        files = sorted(p.name for p in events.iterdir())
        size = sum(p.stat().st_size for p in events.iterdir())
        load_before = os.getloadavg()
        baseline, _ = run_gaps(empty, args.index_dir, args.cache_dir)
        cold, report = run_gaps(events, args.index_dir, args.cache_dir)
        warm = [run_gaps(events, args.index_dir, args.cache_dir)[0] for _ in range(args.runs)]
        load_after = os.getloadavg()
    median = statistics.median(warm)
    figures = {"events": args.events, "files": files, "bytes": size, "written": written,
               "write_seconds": round(write_seconds, 2), "baseline_empty_seconds": round(baseline, 2),
               "cold_seconds": round(cold, 2), "warm_seconds": [round(s, 2) for s in warm],
               "warm_median_seconds": round(median, 2), "x_baseline": round(median / baseline, 2),
               "totals": report["totals"], "reported_clusters": len(report["clusters"]),
               "load_average_before": load_before, "load_average_after": load_after, "cpus": os.cpu_count()}
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2), encoding="utf-8")
    return 0 if median < 60 else 1


if __name__ == "__main__":
    sys.exit(main())
