"""`qa gaps` as a command: read the events, load the index and its model, report, then print or write the report."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from qa.config import Settings
from qa.encoders import PASSAGE_TEXT_VERSION, Embedder, load_embedder, passage_text
from qa.errors import IndexNotFoundError, QAError
from qa.fitted import load_fitted
from qa.gaps.read import event_files, parse_since, read_stream
from qa.gaps.render import as_html, as_json, as_text
from qa.gaps.report import build_report
from qa.index.cache import CachedEncoder, EmbeddingCache
from qa.service import QAService

REFIT = "tools/fit_gap_threshold.py --model {spec} --write"


@dataclass(frozen=True)
class GapsOptions:
    paths: list[Path]  # events files or directories; empty: the settings' events directory
    since: str | None  # 7d, 24h, 30m or an ISO date; None: everything
    json: bool
    html: Path | None
    limit: int
    threshold: float | None  # None: the one fitted for the model


def run(options: GapsOptions, settings: Settings) -> int:
    if options.limit < 1:
        raise QAError(f"--limit must be at least 1, got {options.limit}")
    if options.threshold is not None and not 0 < options.threshold < 1:
        raise QAError(f"--threshold is a cosine similarity between 0 and 1, got {options.threshold}")
    since = parse_since(options.since) if options.since else None
    stream = read_stream(event_files(options.paths or [_default_dir(settings)]), since)
    service, embedder, unchecked = _service(settings)
    threshold = options.threshold or fitted_threshold(settings.model, embedder.model_id)
    # the question vectors are cached beside the index's passage vectors, keyed apart (queries=True)
    with EmbeddingCache(settings.cache_path, embedder.model_id, embedder.dim) as cache:
        encoder = CachedEncoder(embedder, cache, prepare=passage_text, prepare_version=PASSAGE_TEXT_VERSION,
                                queries=True)
        report = build_report(stream, service, encoder, threshold, options.limit, since, unchecked)
    if options.html:
        options.html.write_text(as_html(report), encoding="utf-8")
    print(as_json(report) if options.json else as_text(report))
    if options.html and not options.json:
        print(f"\nwrote {options.html}", file=sys.stderr)
    return 0


def _service(settings: Settings) -> tuple[QAService | None, Embedder, str | None]:
    """The service to re-ask the clusters with, its model, and None; without an index (nothing built yet), no
    service, the model alone (the clusters need only it) and why "now answered" goes unchecked."""
    try:
        service = QAService.load(settings)
    except IndexNotFoundError as exc:
        return None, load_embedder(settings.model), f'"now answered" was not checked: {exc}'
    return service, service.live.embedder, None


def fitted_threshold(spec: str, model_id: str) -> float:
    """The threshold tools/fit_gap_threshold.py fitted for this model (qa/fitted/<slug>/fitted.json), or a
    QAError."""
    fitted = load_fitted(model_id)
    if fitted.gap_threshold is None:
        raise QAError(f"no clustering threshold was fitted for {spec} ({model_id}). Pass --threshold (a cosine such "
                      f"as 0.9) or fit one: python {REFIT.format(spec=spec)}")
    return fitted.gap_threshold.threshold


def _default_dir(settings: Settings) -> Path:
    directory = settings.events_path
    if directory is None:
        raise QAError("QA_EVENTS_DIR is off, so there is no events directory to read; name the events files or "
                      "directories: qa gaps DIR_OR_FILE ...")
    return directory
