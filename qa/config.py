"""Settings: defaults, then QA_* environment variables, then command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import QAError

DEFAULT_MODEL = "e5-torch"
# 480 characters keep most DRCD paragraphs and seed sections whole: on seed dev the best hybrid recall@1 was .72 at
# 120, .77 at 160 and 240, .84 at 360, 480 and 640 (docs/quality.md). One sentence of overlap.
CHUNK_CHARS = 480
CHUNK_OVERLAP = 1
BACKENDS = ("local", "milvus")
EVENTS_OFF = "off"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # None keeps the embedding cache inside the index directory, outside the swapped builds.
    cache_dir: Path | None = None
    model: str = DEFAULT_MODEL
    chunk_chars: int = CHUNK_CHARS
    chunk_overlap: int = CHUNK_OVERLAP
    backend: str = "local"
    # Above this many chunks the dense search is approximate (IVF); nprobe lists are read per query.
    ann_threshold: int = 50_000
    ann_nprobe: int = 32
    sentence_dtype: str = "float16"  # or float32: how sentence vectors are stored
    # A replaced build is deleted this long after it stopped being current (servers may still be reading it);
    # the previous build is always kept for `qa index --rollback`.
    build_grace_seconds: int = 600
    max_question_chars: int = 500
    # With backend "milvus": where the published collections live (docs/operations.md, "Milvus backend and replicas").
    milvus_uri: str | None = None  # a file path = Milvus Lite (one process), http://host:19530 = a Milvus server
    milvus_token: str | None = None
    milvus_db: str | None = None
    log_format: str = "text"  # text | json: `qa serve`'s access and app logs
    batch_max: int = 8  # most questions one query encode takes (bench/bench_query_batches.py: larger costs more)
    batch_wait_ms: int = 0  # how long a lone question waits for company before encoding
    # `qa serve`: where it listens, and its layout, chosen with bench/bench_api.py on 2 cores (docs/benchmarks.md,
    # "Serving layout"): one single-threaded encode per worker and one worker per core, so workers never fight over
    # cores; threads queue questions for the micro-batcher.
    # Question and feedback events (docs/operations.md, "What people asked"): a directory, "off", or None for
    # events/ beside the index directory.
    events_dir: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    threads: int = 8
    # /metrics on a listener of its own (Prometheus scrapes it; the public port then answers 404 there); unset keeps
    # /metrics on the public port
    metrics_host: str = "127.0.0.1"
    metrics_port: int | None = None
    # on: recognise the text of scanned PDF pages and .png/.jpg files (RapidOCR, on the CPU); off: skip them
    ocr: str = "on"
    # The page's example questions, separated by "|", for a corpus without FAQ entries (whose questions come first).
    examples: str = ""
    # on: the model's fitted verifier (qa/fitted/) reads each question with its first few candidates; off: not
    verifier: str = "on"

    @property
    def cache_path(self) -> Path:
        return (self.cache_dir or self.index_dir) / "embedding-cache.sqlite"

    @property
    def events_path(self) -> Path | None:
        """Where `qa serve` keeps question and feedback events, and `qa gaps` reads them; None when off."""
        if self.events_dir is not None and self.events_dir.strip().lower() == EVENTS_OFF:
            return None
        return Path(self.events_dir) if self.events_dir else self.index_dir.parent / "events"

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Defaults, overridden by QA_<FIELD> environment variables, overridden by non-None keyword flags."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = environ.get(f"QA_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw)
        values.update({k: _coerce(k, v) if isinstance(v, str) else v
                       for k, v in overrides.items() if v is not None})
        settings = replace(cls(), **values)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Every value in range, or a QAError naming the setting (its variable and flag) and what it accepts."""
        for name, (low, high) in _RANGES.items():
            value = getattr(self, name)
            if value is None and name in _OPTIONAL:
                continue
            if not low <= value <= high:
                raise QAError(f"{_names(name)} must be from {low} to {high}, got {value}")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise QAError(f"{_names(name)} must be {' or '.join(choices)}, got {getattr(self, name)!r}")
        if self.metrics_port is not None and self.metrics_port == self.port:
            raise QAError(f"{_names('metrics_port')} must differ from {_names('port')} ({self.port}): /metrics gets "
                          f"a listener of its own")


_PATHS = {"corpus_dir", "index_dir", "cache_dir"}
# The longest request line `qa serve` reads: gunicorn's limit_request_line, at the largest value its documentation
# allows (0-8190). A longer line is answered by gunicorn itself with its own 414 page, before the app sees it.
MAX_REQUEST_LINE = 8190
# Every accepted question must fit the longer of its two URLs, `GET /api/search?q=` (the page's is `GET /?q=`),
# percent-encoded in that line: at 12 bytes per 4-byte character, 680 characters do.
MAX_QUESTION_LIMIT = (MAX_REQUEST_LINE - len("GET /api/search?q= HTTP/1.1")) // 12
# name -> (lowest, highest) accepted value of each integer setting
_RANGES = {
    "chunk_chars": (20, 100_000), "chunk_overlap": (0, 5), "ann_threshold": (1, 2**31 - 1),
    "ann_nprobe": (1, 1_000_000), "build_grace_seconds": (0, 10**9), "max_question_chars": (1, MAX_QUESTION_LIMIT),
    "batch_max": (1, 1024), "batch_wait_ms": (0, 50), "port": (0, 65535), "workers": (1, 64), "threads": (1, 256),
    "metrics_port": (1, 65535),
}
_OPTIONAL = {"metrics_port"}  # None (the default) is valid: no listener of its own
_CHOICES = {"backend": BACKENDS, "log_format": ("text", "json"), "sentence_dtype": ("float16", "float32"),
            "ocr": ("on", "off"), "verifier": ("on", "off")}
# settings that also have a command-line flag, named in error messages
_FLAGS = {"corpus_dir": "--corpus", "index_dir": "--index-dir", "cache_dir": "--cache-dir", "model": "--model",
          "backend": "--backend", "milvus_uri": "--milvus-uri", "log_format": "--log-format", "host": "--host",
          "port": "--port", "workers": "--workers", "threads": "--threads", "metrics_host": "--metrics-host",
          "metrics_port": "--metrics-port", "events_dir": "--events-dir", "ocr": "--ocr"}


def _names(name: str) -> str:
    flag = _FLAGS.get(name)
    return f"QA_{name.upper()}" + (f" / {flag}" if flag else "")


def _coerce(name: str, raw: str) -> Any:
    if name in _PATHS:
        return Path(raw)
    if name in _RANGES:
        try:
            return int(raw)
        except ValueError:
            raise QAError(f"QA_{name.upper()} must be an integer, got {raw!r}") from None
    if name not in {f.name for f in fields(Settings)}:
        raise QAError(f"unknown setting {name!r}")
    return raw
