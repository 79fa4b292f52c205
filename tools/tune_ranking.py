"""Tune the hybrid ranking weights and the abstention threshold on several evaluation sets at once.

Each question is encoded once; every weight combination then re-ranks the stored candidate features, so a grid of
hundreds of settings costs seconds. The ranks ignore the overlap de-duplication of the live path; confirm the chosen
settings with `qa eval --compare`.

    python tools/tune_ranking.py --set seed=eval/seed_dev.jsonl:index \
        --set drcd=.cache/drcd/questions.jsonl:.cache/drcd/index [--write]

With --write the best row becomes the ranking part of qa/fitted/<model>/fitted.json for the indexes' model.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from qa.chunking import Chunk
from qa.config import Settings
from qa.evaluation import Question, load_questions
from qa.fitted.records import RankingFit
from qa.fitted.write import Clock, write_part
from qa.query.ranking import Features, RankingParams, fuse
from qa.results import Signals, Source
from qa.service import QAService


@dataclass
class Case:
    features: Features
    hits: np.ndarray  # bool per candidate
    unanswerable: bool


def collect(service: QAService, questions: list[Question], limit: int | None) -> list[Case]:
    retriever = service.retriever
    cases = []
    for question in questions[:limit]:
        features = retriever.features(retriever.prepare(question.question))
        chunks = retriever.index.chunks(features.rows.tolist())
        hits = np.array([question.is_hit(_source(n, c)) for n, c in enumerate(chunks, start=1)])
        cases.append(Case(features, hits, question.unanswerable))
    return cases


def _source(n: int, chunk: Chunk) -> Source:
    """A candidate as the judge reads a source (its document and text); it is scored here, not by the service."""
    return Source(n=n, doc_id=chunk.doc_id, title="", url=None, date=None, chunk_id=chunk.chunk_id, text=chunk.text,
                  start=chunk.start, end=chunk.end, score=0.0, signals=Signals(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, None),
                  highlights=[], kind="passage", matched_question=None)


def metrics(cases: list[Case], scores_of) -> dict[str, float]:
    firsts = []
    for case in cases:
        if case.unanswerable:
            continue
        order = np.argsort(-scores_of(case.features), kind="stable")
        ranked_hits = np.flatnonzero(case.hits[order])
        firsts.append(int(ranked_hits[0]) + 1 if ranked_hits.size else None)
    n = len(firsts)
    return {"r1": sum(f == 1 for f in firsts) / n, "r3": sum(f is not None and f <= 3 for f in firsts) / n,
            "mrr": sum(1 / f for f in firsts if f) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, metavar="NAME=QUESTIONS:INDEX_DIR")
    parser.add_argument("--limit", type=int, help="use only the first N questions of each set")
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--write", action="store_true", help="write the best row for the indexes' model")
    args = parser.parse_args()
    clock = Clock()

    sets: dict[str, list[Case]] = {}
    models: set[str] = set()
    for spec in args.set:
        name, _, rest = spec.partition("=")
        questions_path, _, index_dir = rest.partition(":")
        service = QAService.load(Settings.load(index_dir=index_dir))
        base, models = service.retriever.params, models | {service.retriever.embedder.model_id}
        sets[name] = collect(service, load_questions(Path(questions_path)), args.limit)
        print(f"{name}: {len(sets[name])} questions", file=sys.stderr)
    if len(models) != 1:
        sys.exit(f"the indexes were built with different models ({', '.join(sorted(models))}): use one")

    for label, fn in (("dense", lambda f: f.dense), ("bm25", lambda f: f.bm25)):
        print(label.ljust(40), "  ".join(f"{n}: " + _fmt(metrics(c, fn)) for n, c in sets.items()))

    grid = itertools.product([0.0, 0.5, 1.0], [0.5, 1.0, 2.0], [0.0, 0.05, 0.1, 0.2, 0.4],
                             [0.0, 0.05, 0.1, 0.2], [0.0, 1.0, 2.0, 4.0])
    rows = []
    for wd, ws, wc, wb, trust in grid:
        params = replace(base, w_dense=wd, w_sentence=ws, w_coverage=wc, w_bm25=wb, trust_exponent=trust)
        result = {n: metrics(c, lambda f, p=params: fuse(f, p)) for n, c in sets.items()}
        rows.append((min(r["r1"] + r["mrr"] for r in result.values()), params, result))
    rows.sort(key=lambda r: -r[0])
    for _, params, result in rows[: args.top]:
        label = (f"d={params.w_dense} s={params.w_sentence} c={params.w_coverage} b={params.w_bm25} "
                 f"t={params.trust_exponent}")
        print(label.ljust(40), "  ".join(f"{n}: " + _fmt(r) for n, r in result.items()))
    _abstention(sets, rows[0][1])
    if args.write:
        (model_id,) = models
        figures = {f"{n}_{k}": v for n, r in rows[0][2].items() for k, v in r.items()}
        datasets = [spec.partition("=")[2].partition(":")[0] for spec in args.set]
        out = write_part(model_id, "ranking", RankingFit(rows[0][1], clock.provenance(
            "tools/tune_ranking.py", model_id, datasets, figures, "best min over the sets of recall@1 + MRR")))
        print(f"wrote the ranking part of {out}")


def _abstention(sets: dict[str, list[Case]], params: RankingParams) -> None:
    """Best fused score for answerable vs unanswerable questions, to place the abstention threshold."""
    for name, cases in sets.items():
        tops = [(float(fuse(c.features, params).max()), c.unanswerable) for c in cases if c.features.rows.size]
        bad = sorted(s for s, u in tops if u)
        good = sorted(s for s, u in tops if not u)
        if bad:
            print(f"{name}: unanswerable top scores {np.round(bad, 3).tolist()}")
            print(f"{name}: answerable lowest top scores {np.round(good[:12], 3).tolist()}")


def _fmt(m: dict[str, float]) -> str:
    return " ".join(f"{k}={v:.3f}" for k, v in m.items())


if __name__ == "__main__":
    main()
