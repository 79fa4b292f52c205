"""The Milvus collections of one build: fields and indexes of chunks, sentences, documents, vocab, manifest."""

from __future__ import annotations

from typing import Any

# VARCHAR limits are in bytes; documents longer than this are stored in several parts.
MAX_VARCHAR = 65_535
TEXT_PART_BYTES = 60_000
MAX_TOKEN_BYTES = 512
MAX_DOC_ID_BYTES = 1_024
# Milvus wants a vector field in every collection; lookup tables carry this constant one (never searched).
PAD_FIELD = "pad"
PAD = [0.0, 0.0]
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 200
HNSW_EF_SEARCH = 128  # the local backend's faiss HNSW uses the same


def _schema() -> Any:
    from pymilvus import MilvusClient

    return MilvusClient.create_schema(auto_id=False, enable_dynamic_field=False)


def _index_params(*indexes: tuple[str, str, str, dict[str, Any]]) -> Any:
    from pymilvus import MilvusClient

    params = MilvusClient.prepare_index_params()
    for field, index_type, metric, extra in indexes:
        if metric:
            params.add_index(field_name=field, index_type=index_type, metric_type=metric, params=extra)
        else:  # a scalar index
            params.add_index(field_name=field, index_type=index_type)
    return params


def _pad(schema: Any) -> None:
    from pymilvus import DataType

    schema.add_field(PAD_FIELD, DataType.FLOAT_VECTOR, dim=len(PAD))


def _pad_index() -> tuple[str, str, str, dict[str, Any]]:
    return (PAD_FIELD, "FLAT", "L2", {})


def chunks(dim: int) -> tuple[Any, Any]:
    """id = chunk row; dense vector (HNSW, IP on unit vectors = cosine); BM25 weights as a sparse vector."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    schema.add_field("bm25", DataType.SPARSE_FLOAT_VECTOR)
    schema.add_field("doc_idx", DataType.INT64)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("ordinal", DataType.INT64)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("headings", DataType.VARCHAR, max_length=MAX_VARCHAR)  # JSON list
    return schema, _index_params(
        ("vector", "HNSW", "IP", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}),
        ("bm25", "SPARSE_INVERTED_INDEX", "IP", {}),
    )


def sentences(dim: int) -> tuple[Any, Any]:
    """id = sentence position; `row` is the chunk it belongs to, start/end are document offsets."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("row", DataType.INT64)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema, _index_params(
        ("vector", "HNSW", "IP", {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION}),
        ("row", "INVERTED", "", {}),
    )


def documents() -> tuple[Any, Any]:
    """id = (document idx << 16) + part: a long text is split into parts, metadata repeated on each."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("idx", DataType.INT64)
    schema.add_field("part", DataType.INT64)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("title", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("url", DataType.VARCHAR, max_length=MAX_VARCHAR, nullable=True)
    schema.add_field("date", DataType.VARCHAR, max_length=256, nullable=True)
    schema.add_field("source", DataType.VARCHAR, max_length=MAX_VARCHAR, nullable=True)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("kind", DataType.VARCHAR, max_length=16)  # passage or faq
    _pad(schema)
    return schema, _index_params(_pad_index(), ("doc_id", "INVERTED", "", {}))


def vocab() -> tuple[Any, Any]:
    """BM25 vocabulary: token → its id (the sparse dimension) and document frequency (chunks containing it)."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("token", DataType.VARCHAR, is_primary=True, max_length=MAX_TOKEN_BYTES)
    schema.add_field("tid", DataType.INT64)
    schema.add_field("df", DataType.INT64)
    _pad(schema)
    return schema, _index_params(_pad_index())


def manifest() -> tuple[Any, Any]:
    """One record: the build's manifest as JSON (with the names of the other four collections)."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("manifest", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("published_at", DataType.DOUBLE)
    _pad(schema)
    return schema, _index_params(_pad_index())
