"""Tune the answer's unit composition (AnswerParams) on several evaluation sets at once.

Retrieval runs once per question with the default ranking; each parameter combination then only rebuilds the
answers, and is scored with the same judge as `qa eval` (answer hit, citation precision, answer-sentence precision,
first-sentence hit). Tune on the dev set (and DRCD) only: the held-out seed set is for checking the result.

    python tools/tune_answer.py --set seed=eval/seed_dev.jsonl:index --set drcd=.cache/drcd-300/questions.jsonl:DIR \
        [--write]

With --write the best row becomes the answer part of qa/fitted/<model>/fitted.json for the indexes' model.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from qa.config import Settings
from qa.evaluation import Question, judge, load_questions, summarize
from qa.fitted.records import AnswerFit
from qa.fitted.write import Clock, write_part
from qa.query import faqhits
from qa.query.answer import AnswerParams, build_answer
from qa.query.faqhits import Found
from qa.query.retrieval import Query
from qa.query.sources import sources
from qa.results import AskResult, Source
from qa.service import QAService


@dataclass
class Prepared:
    question: Question
    query: Query
    found: list[Found]
    sources: list[Source]


def prepare(service: QAService, questions: list[Question], limit: int | None) -> list[Prepared]:
    out = []
    for question in questions[:limit]:
        if question.unanswerable:
            continue
        query = service.retriever.prepare(question.question)
        found = faqhits.examine(query, service.retriever.rank(query, 5, "hybrid"))
        out.append(Prepared(question, query, found, sources(query, found)))
    return out


METRICS = ("answer_hit", "answer_sentence_hit", "first_sentence_hit", "answer_chars_p50")


def score(service: QAService, cases: list[Prepared], params: AnswerParams) -> dict[str, float]:
    judgements = []
    for case in cases:
        answer = build_answer(service.retriever, case.query, case.found, params)
        result = AskResult(question=case.question.question, answer=answer.text, answered=answer.answered,
                           answerability=answer.answerability, calibrated=service.retriever.fitted.calibrated,
                           quotes=[], matched_question=answer.matched_question,
                           related_questions=[], suggestions=[], sources=case.sources, took_ms=0.0,
                           build_id=service.live.current.build_id)
        judgements.append(judge(case.question, result))
    summary = summarize(judgements)
    return {name: float(summary[name] or 0.0) for name in METRICS}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", action="append", required=True, metavar="NAME=QUESTIONS:INDEX_DIR")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--rank", choices=("min", "mean"), default="mean", help="order settings by the worst or the "
                        "mean of their metrics over all sets")
    parser.add_argument("--min-hit", type=float, default=0.0,
                        help="rank by citation precision among settings whose answer hit reaches this on every set")
    parser.add_argument("--write", action="store_true", help="write the best row for the indexes' model")
    args = parser.parse_args()
    clock = Clock()
    sets = {}
    for spec in args.set:
        name, _, rest = spec.partition("=")
        questions_path, _, index_dir = rest.partition(":")
        service = QAService.load(Settings.load(index_dir=index_dir))
        sets[name] = (service, prepare(service, load_questions(Path(questions_path)), args.limit))
        print(f"{name}: {len(sets[name][1])} answerable questions", file=sys.stderr)
    models = {service.retriever.embedder.model_id for service, _ in sets.values()}
    if len(models) != 1:
        sys.exit(f"the indexes were built with different models ({', '.join(sorted(models))}): use one")
    base = service.retriever.fitted.answer

    rows = []
    grid = itertools.product([1, 2], [2, 3, 4], [1.0, 2.0, 4.0, 6.0], [2, 3])
    for considered, max_sentences, margin, max_units in grid:
        params = replace(base, sources_considered=considered, max_sentences=max_sentences, keep_margin=margin,
                         max_units=max_units)
        result = {name: score(service, cases, params) for name, (service, cases) in sets.items()}
        if all(r["answer_hit"] >= args.min_hit for r in result.values()):
            values = [v for r in result.values() for k, v in r.items() if k != "answer_chars_p50"]
            rows.append((min(values) if args.rank == "min" else sum(values) / len(values), params, result))
    rows.sort(key=lambda r: -r[0])
    for _, p, result in rows[: args.top]:
        label = f"src={p.sources_considered} max={p.max_sentences} margin={p.keep_margin} units={p.max_units}"
        print(label.ljust(52), "  ".join(f"{n}: " + " ".join(f"{k}={v:.3f}" for k, v in r.items())
                                       for n, r in result.items()))
    if args.write and rows:
        (model_id,) = models
        figures = {f"{n}_{k}": v for n, r in rows[0][2].items() for k, v in r.items()}
        datasets = [spec.partition("=")[2].partition(":")[0] for spec in args.set]
        out = write_part(model_id, "answer", AnswerFit(rows[0][1], clock.provenance(
            "tools/tune_answer.py", model_id, datasets, figures,
            f"best {args.rank} of the metrics over the sets, answer hit at least {args.min_hit} on each")))
        print(f"wrote the answer part of {out}")


if __name__ == "__main__":
    main()
