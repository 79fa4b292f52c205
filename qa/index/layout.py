"""The files of a format-4 build directory (docs/operations.md, "What a build holds")."""

# 3: documents have a kind (passage or faq); FAQ questions are embedded as questions
# 4: documents have locations (where each PDF page or slide begins)
FORMAT_VERSION = 4
MANIFEST = "manifest.json"
# documents(idx, doc_id, title, url, date, source, text, kind, locations), chunks(row, text, headings)
DOCS = "docs.sqlite"
CHUNK_META = "chunk_meta.npy"  # int32 (n, 4): document idx, start, end, ordinal within the document
CHUNK_VECTORS = "chunk_vectors.npy"  # float32 (n, dim), unit rows
ANN = "dense.faiss"  # IVF index over chunk_vectors, present when the manifest's dense.kind is "ivf"
SENTENCE_BOUNDS = "sentence_bounds.npy"  # int64 (n + 1): the sentences of row r are bounds[r]:bounds[r + 1]
SENTENCE_SPANS = "sentence_spans.npy"  # int32 (m, 2): start, end offsets into the document text
SENTENCE_VECTORS = "sentence_vectors.npy"  # float16 (or float32, see the manifest) (m, dim)
SPARSE = "sparse"  # bm25s files
CURRENT = "current"
BUILDS = "builds"

REBUILD_HINT = "rebuild it with `qa index` (add --model SPEC to choose the model)"
