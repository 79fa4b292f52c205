"""Settings: defaults, then QA_* environment variables, then command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from qa.errors import QAError

DEFAULT_MODEL = "e5-torch"


@dataclass(frozen=True)
class Settings:
    corpus_dir: Path = Path("corpus")
    index_dir: Path = Path("index")
    # None keeps the embedding cache inside the index directory, outside the swapped builds.
    cache_dir: Path | None = None
    model: str = DEFAULT_MODEL
    chunk_chars: int = 480
    chunk_overlap: int = 1
    hnsw_threshold: int = 50_000
    max_question_chars: int = 500

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
        return replace(cls(), **values)


_PATHS = {"corpus_dir", "index_dir", "cache_dir"}
_INTS = {"chunk_chars", "chunk_overlap", "hnsw_threshold", "max_question_chars"}


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
    return raw
