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
# The layout of a build's collections; a reader refuses a build published with another one (publish it again).
# 2: chunks carry their document's title, url, date and source (`doc`) and their sentence count, so one hybrid search
# returns all that ranking and the answer's sources need; sentences are searched exactly (FLAT) within the
# candidates; the manifest record keeps when the build stopped being served (retired_at).
# 3: a document's `doc` also says its kind (passage or faq entry).
SCHEMA_VERSION = 3


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


def chunks(dim: int, dense_index: str = "HNSW") -> tuple[Any, Any]:
    """id = chunk row; dense vector (HNSW, IP on unit vectors = cosine); BM25 weights as a sparse vector; the
    document's metadata and the chunk's sentence count ride along, so one search returns what ranking needs."""
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
    schema.add_field("sentences", DataType.INT64)  # how many sentences of the sentences collection are this row's
    # The BM25 weights again, packed (base64 of the ids as little-endian uint32, then the weights as float32), for
    # reading: pymilvus decodes a returned sparse vector into a dict one entry at a time, 31 ms of a question's
    # 157 (cProfile, DRCD-300 on Milvus Lite 2.5: 107 candidates); the packed copy decodes in one numpy call.
    schema.add_field("weights", DataType.VARCHAR, max_length=MAX_VARCHAR)
    _document_fields(schema)
    params = {"M": HNSW_M, "efConstruction": HNSW_EF_CONSTRUCTION} if dense_index == "HNSW" else {}
    return schema, _index_params(("vector", dense_index, "IP", params), ("bm25", "SPARSE_INVERTED_INDEX", "IP", {}))


def _document_fields(schema: Any) -> None:
    from pymilvus import DataType

    # JSON {title, url, date, source} in one VARCHAR: Milvus Lite 2.x has no nullable fields, url and date may be null
    schema.add_field("doc", DataType.VARCHAR, max_length=MAX_VARCHAR)


def sentences(dim: int) -> tuple[Any, Any]:
    """id = sentence position; `row` is the chunk it belongs to, start/end are document offsets. Only ever searched
    within a question's candidate rows, so exactly (FLAT): every sentence of those rows comes back with its cosine."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("row", DataType.INT64)
    schema.add_field("start", DataType.INT64)
    schema.add_field("end", DataType.INT64)
    schema.add_field("vector", DataType.FLOAT_VECTOR, dim=dim)
    return schema, _index_params(("vector", "FLAT", "IP", {}), ("row", "INVERTED", "", {}))


def documents() -> tuple[Any, Any]:
    """id = (document idx << 16) + part: a long text is split into parts, metadata repeated on each."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("idx", DataType.INT64)
    schema.add_field("part", DataType.INT64)
    schema.add_field("doc_id", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    _document_fields(schema)
    schema.add_field("text", DataType.VARCHAR, max_length=MAX_VARCHAR)
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
    """One record: the build's manifest as JSON (with the names of the other four collections), when it was
    published and when it last stopped being the served build (0 while it never did)."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("manifest", DataType.VARCHAR, max_length=MAX_VARCHAR)
    schema.add_field("published_at", DataType.DOUBLE)
    schema.add_field("retired_at", DataType.DOUBLE)
    _pad(schema)
    return schema, _index_params(_pad_index())


def serving() -> tuple[Any, Any]:
    """One record: the id of the build served now, and when it became so."""
    from pymilvus import DataType

    schema = _schema()
    schema.add_field("id", DataType.INT64, is_primary=True)
    schema.add_field("build", DataType.VARCHAR, max_length=MAX_DOC_ID_BYTES)
    schema.add_field("switched_at", DataType.DOUBLE)
    _pad(schema)
    return schema, _index_params(_pad_index())
