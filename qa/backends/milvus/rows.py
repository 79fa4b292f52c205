"""What the Milvus reader and a question's view share: the chunk fields fetched, the page limit, the error wrapper
and the conversions of records (chunks, document metadata, packed BM25 weights, query vectors)."""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any, TypeVar, cast

import numpy as np

from qa.backends.milvus.client import MilvusBackendError
from qa.chunking import Chunk
from qa.corpus import DocumentInfo

F = TypeVar("F", bound=Callable[..., Any])
# Milvus's largest top-k and query page; no question asks for more candidates than this.
MAX_LIMIT = 16_384
CHUNK_FIELDS = ["id", "vector", "weights", "doc_id", "start", "end", "ordinal", "text", "headings", "sentences",
                "doc"]


def reported(method: F) -> F:
    """A failed Milvus call becomes a MilvusBackendError (a 503 with the reason), not an unexpected 500."""
    from pymilvus.exceptions import MilvusException

    @functools.wraps(method)
    def call(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except MilvusException as exc:
            raise MilvusBackendError(f"Milvus at {self.target.uri} failed in {method.__name__} ({exc.message}); "
                                     f"check that it is running and build {self.build_id} still exists") from exc

    return cast(F, call)


def query_vector(vector: np.ndarray) -> np.ndarray:
    return np.asarray(vector, dtype=np.float32).reshape(-1)


def pack_weights(weights: Mapping[int, float]) -> str:
    """A chunk's BM25 weights as the `weights` field stores them (see fields.chunks)."""
    ids = np.fromiter(weights.keys(), dtype="<u4", count=len(weights))
    values = np.fromiter(weights.values(), dtype="<f4", count=len(weights))
    return base64.b64encode(ids.tobytes() + values.tobytes()).decode("ascii")


def unpack_weights(packed: str) -> tuple[np.ndarray, np.ndarray]:
    """(term ids int64, weights float32) of a `weights` field."""
    raw = base64.b64decode(packed)
    n = len(raw) // 8
    return np.frombuffer(raw, dtype="<u4", count=n).astype(np.int64), np.frombuffer(raw, dtype="<f4", offset=4 * n)


def document_info_of(record: Mapping[str, Any]) -> DocumentInfo:
    """The document metadata a chunk or document record carries (see fields._document_fields)."""
    doc = json.loads(record["doc"])
    return DocumentInfo(doc_id=record["doc_id"], title=doc["title"], url=doc["url"], date=doc["date"],
                        source=doc["source"], kind=doc["kind"])


def chunk_of(record: Mapping[str, Any]) -> Chunk:
    doc_id = record["doc_id"]
    return Chunk(chunk_id=f"{doc_id}:{int(record['ordinal'])}", doc_id=doc_id, start=int(record["start"]),
                 end=int(record["end"]), text=record["text"], headings=tuple(json.loads(record["headings"])))
