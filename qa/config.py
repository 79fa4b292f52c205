"""Settings: defaults, then QA_* environment variables, then command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import QAError

DEFAULT_MODEL = "e5-torch"
BACKENDS = ("local", "milvus")


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # None keeps the embedding cache inside the index directory, outside the swapped builds.
    cache_dir: Path | None = None
    model: str = DEFAULT_MODEL
    chunk_chars: int = 480
    chunk_overlap: int = 1
    backend: str = "local"
    # Above this many chunks the dense search is approximate (IVF); nprobe lists are read per query.
    ann_threshold: int = 50_000
    ann_nprobe: int = 32
    sentence_dtype: str = "float16"  # or float32: how sentence vectors are stored
    # A replaced build is deleted this long after it stopped being current (servers may still be reading it);
    # the previous build is always kept for `qa index --rollback`.
    build_grace_seconds: int = 600
    max_question_chars: int = 500
    # With backend "milvus": where the published collections live (README, "Milvus backend").
    milvus_uri: str | None = None  # a file path = Milvus Lite (one process), http://host:19530 = a Milvus server
    milvus_token: str | None = None
    milvus_db: str | None = None
    log_format: str = "text"  # text | json: `qa serve`'s access and app logs
    batch_max: int = 8  # most questions one query encode takes (bench/bench_encode.py: larger costs more)
    batch_wait_ms: int = 0  # how long a lone question waits for company before encoding

    @property
    def cache_path(self) -> Path:
        return (self.cache_dir or self.index_dir) / "embedding-cache.sqlite"

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
        if settings.backend not in BACKENDS:
            raise QAError(f"unknown backend {settings.backend!r} (QA_BACKEND / --backend): choose "
                          f"{' or '.join(BACKENDS)}")
        return settings


_PATHS = {"corpus_dir", "index_dir", "cache_dir"}
_INTS = {"chunk_chars", "chunk_overlap", "ann_threshold", "ann_nprobe", "build_grace_seconds", "max_question_chars",
         "batch_max", "batch_wait_ms"}
_CHOICES = {"log_format": ("text", "json")}


def _coerce(name: str, raw: str) -> Any:
    if name in _PATHS:
        return Path(raw)
    if name in _INTS:
        try:
            return int(raw)
        except ValueError:
            raise QAError(f"QA_{name.upper()} must be an integer, got {raw!r}") from None
    if name not in {f.name for f in fields(Settings)}:
        raise QAError(f"unknown setting {name!r}")
    if name in _CHOICES and raw not in _CHOICES[name]:
        raise QAError(f"QA_{name.upper()} must be one of {', '.join(_CHOICES[name])}, got {raw!r}")
    return raw
