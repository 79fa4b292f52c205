"""Send a realistic stream of questions and feedback to a running `qa serve`, for a `qa gaps` report to read.

    python tools/gaps_stream.py --url http://127.0.0.1:8000 [--seed 17] [--clients 4]

The stream mixes, in a shuffled order: the seed dev questions (eval/seed_dev.jsonl; answerable ones asked by one to
three people, unanswerable ones once or twice), payment questions people ask about other wallets (AFQMC dev pairs of
the same intent, ../shared/bench/afqmc/dev.txt: 60 needs, each asked in its two wordings with Zipf frequencies)
and everyday questions (20 LCQMC dev needs the same way). One question in twenty carries a phone or card number.
Feedback follows what people do: on an answer to an answerable dev question 有帮助 one time in four (没帮助 one time
in twenty); on any other answer 没帮助 three times in five, sometimes with a comment; on an abstention 没帮助 one time
in ten. Every request goes to the server given (loopback); nothing else is contacted.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from servers import request  # noqa: E402  (bench/servers.py: the one way requests are sent)

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"  # ../shared/bench beside the repository
PRIVATE = ["我的手机号是13912345678", "卡号6217 0000 1234 5678", "身份证号11010519491231002X",
           "邮箱 wang.li@example.com"]
COMMENTS = ["没回答我的问题", "答非所问", "想知道具体怎么操作", "能不能说清楚一点"]


@dataclass(frozen=True)
class Ask:
    question: str
    answerable: bool  # a dev question the corpus answers


def stream(rng: random.Random) -> list[Ask]:
    asks = []
    for line in (ROOT / "eval" / "seed_dev.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        unanswerable = bool(item.get("unanswerable"))
        asks += [Ask(item["question"], not unanswerable)] * rng.randint(1, 2 if unanswerable else 3)
    for path, needs, total in ((BENCH / "afqmc" / "dev.txt", 60, 420), (BENCH / "lcqmc" / "dev.txt", 20, 80)):
        pairs = [line.split("\t")[:2] for line in path.read_text(encoding="utf-8").splitlines()
                 if line.endswith("\t1")]
        chosen = rng.sample(pairs, needs)
        for pair in rng.choices(chosen, weights=[1 / (r + 1) for r in range(needs)], k=total):
            asks.append(Ask(rng.choice(pair), False))
    asks = [Ask(f"{a.question}，{rng.choice(PRIVATE)}", a.answerable) if rng.random() < 0.05 else a for a in asks]
    rng.shuffle(asks)
    return asks


def send(url: str, ask: Ask, rng: random.Random) -> tuple[bool, bool | None]:
    status, _, body = request(f"{url}/api/ask", {"question": ask.question})
    if status != 200:
        raise SystemExit(f"/api/ask answered {status}: {body[:300]}")
    result: dict[str, Any] = json.loads(body)
    helpful = _feedback(result["answered"], ask.answerable, rng.random())
    if helpful is not None:
        comment = rng.choice(COMMENTS) if not helpful and rng.random() < 0.3 else None
        status, _, body = request(f"{url}/api/feedback", {"request_id": result["request_id"], "helpful": helpful,
                                                          "comment": comment})
        if status != 200:
            raise SystemExit(f"/api/feedback answered {status}: {body[:300]}")
    return result["answered"], helpful


def _feedback(answered: bool, answerable: bool, draw: float) -> bool | None:
    if answered and answerable:
        return True if draw < 0.25 else False if draw > 0.95 else None
    if answered:
        return False if draw < 0.6 else None
    return False if draw < 0.1 else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    asks = stream(rng)
    draws = [random.Random(rng.random()) for _ in asks]  # each ask's own draws: the same whatever the thread order
    with ThreadPoolExecutor(args.clients) as pool:
        outcomes = list(pool.map(lambda pair: send(args.url, *pair), zip(asks, draws, strict=True)))
    answered = sum(1 for a, _ in outcomes if a)
    print(f"{len(asks)} questions: {answered} answered, {len(asks) - answered} abstained; feedback: "
          f"{sum(1 for _, h in outcomes if h is True)} helpful, {sum(1 for _, h in outcomes if h is False)} unhelpful")


if __name__ == "__main__":
    main()
