"""BM25 keyword index over pre-tokenised rows: built row by row, saved in bm25s's format, loaded memory-mapped."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from scipy import sparse as sp

from qa.errors import IndexCorruptError
from qa.index.layout import REBUILD_HINT

# bm25s's default file names, listed so a broken index can be blamed on the file that is actually broken.
_JSON_FILES = ("params.index.json", "vocab.index.json")
_ARRAY_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")


K1 = 1.5
B = 0.75


class SparseBuilder:
    """Collects rows of tokens one at a time and writes a bm25s index (Lucene BM25) without holding the texts.

    Memory holds one (token id, row, term frequency) triple per distinct token of each row: what the index itself
    stores. The scores are bm25s's: idf = ln(1 + (N - df + 0.5) / (df + 0.5)), tf / (tf + k1 (1 - b + b dl / avgdl)).
    """

    def __init__(self) -> None:
        self.vocab: dict[str, int] = {}
        self._token_ids: list[np.ndarray] = []
        self._tfs: list[np.ndarray] = []
        self._lengths: list[int] = []

    @property
    def n_rows(self) -> int:
        return len(self._lengths)

    def token_ids(self, tokens: list[str]) -> np.ndarray:
        """The vocabulary ids of tokens, adding new tokens to the vocabulary."""
        return np.fromiter((self.vocab.setdefault(t, len(self.vocab)) for t in tokens), dtype=np.int32,
                           count=len(tokens))

    def add(self, tokens: list[str]) -> None:
        self.add_ids(self.token_ids(tokens))

    def add_ids(self, ids: np.ndarray) -> None:
        """One row given as token ids from `token_ids` (repeats count as term frequency)."""
        unique, counts = np.unique(ids, return_counts=True)
        self._token_ids.append(unique.astype(np.int32))
        self._tfs.append(counts.astype(np.float32))
        self._lengths.append(len(ids))

    def build(self) -> bm25s.BM25:
        """The finished index (in memory); the builder's buffers are released."""
        if not self._lengths:
            raise ValueError("cannot build a BM25 index over zero rows")
        lengths = np.asarray(self._lengths, dtype=np.float32)
        rows = np.repeat(np.arange(len(lengths), dtype=np.int32), [len(t) for t in self._token_ids])
        token_ids = np.concatenate(self._token_ids) if rows.size else np.zeros(0, dtype=np.int32)
        tfs = np.concatenate(self._tfs) if rows.size else np.zeros(0, dtype=np.float32)
        self._token_ids, self._tfs = [], []
        n_vocab = len(self.vocab)
        df = np.bincount(token_ids, minlength=n_vocab)
        n = np.float32(len(lengths))
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5)).astype(np.float32)
        avg = np.float32(lengths.mean())
        tfc = tfs / (np.float32(K1) * ((1 - np.float32(B)) + np.float32(B) * lengths[rows] / avg) + tfs) \
            if rows.size else tfs
        order = np.argsort(token_ids, kind="stable")  # rows stay ascending within each token's column
        bm25 = bm25s.BM25(k1=K1, b=B, method="lucene")
        bm25.vocab_dict = dict(self.vocab)
        bm25.nonoccurrence_array = None
        bm25.scores = {"data": (idf[token_ids] * tfc)[order].astype(np.float32), "indices": rows[order],
                       "indptr": np.concatenate([[0], np.cumsum(df)]).astype(np.int64), "num_docs": len(lengths)}
        return bm25


class SparseIndex:
    """BM25 (Lucene variant, k1=1.5, b=0.75) over rows of tokens; loaded memory-mapped from bm25s's files."""

    def __init__(self, bm25: bm25s.BM25) -> None:
        self._bm25 = bm25
        self._indptr = np.asarray(bm25.scores["indptr"])
        self._indices = bm25.scores["indices"]

    @classmethod
    def build(cls, corpus_tokens: list[list[str]]) -> SparseIndex:
        """Index one row per token list; rows may be empty, but there must be at least one row."""
        builder = SparseBuilder()
        for tokens in corpus_tokens:
            builder.add(tokens)
        return cls(builder.build())

    @property
    def n_rows(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def token_ids(self, tokens: list[str] | tuple[str, ...]) -> list[int]:
        """Vocabulary ids of the tokens, -1 for a token the index never saw."""
        vocab = self._bm25.vocab_dict
        return [vocab.get(t, -1) for t in tokens]

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """float32 BM25 score of every row; tokens outside the vocabulary contribute nothing."""
        token_ids = [i for i in self.token_ids(query_tokens) if i >= 0]
        if not token_ids:
            return np.zeros(self.n_rows, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(token_ids), dtype=np.float32)

    def search(self, query_tokens: list[str], k: int) -> list[tuple[int, float]]:
        """Up to k (row, score) pairs with score > 0, best first; ties go to the lower row."""
        return top_positive(self.scores(query_tokens), k)

    def document_frequencies(self, tokens: list[str]) -> np.ndarray:
        """Number of rows containing each token (0 for unknown tokens)."""
        ids = np.asarray(self.token_ids(tokens), dtype=np.int64)
        known = ids >= 0
        out = np.zeros(len(ids), dtype=np.int64)
        out[known] = self._indptr[ids[known] + 1] - self._indptr[ids[known]]
        return out

    def presence(self, tokens: list[str], rows: np.ndarray) -> np.ndarray:
        """bool (len(rows), len(tokens)): whether each row contains each token, read from the postings."""
        rows = np.asarray(rows, dtype=np.int64)
        out = np.zeros((len(rows), len(tokens)), dtype=bool)
        for j, token_id in enumerate(self.token_ids(tokens)):
            if token_id >= 0:
                column = self._indices[self._indptr[token_id]:self._indptr[token_id + 1]]  # ascending rows
                found = np.searchsorted(column, rows)
                out[:, j] = (found < len(column)) & (np.take(column, np.minimum(found, len(column) - 1)) == rows) \
                    if len(column) else False
        return out

    def close(self) -> None:
        """Drop the mapped postings (their maps close with the last reference, which this object holds)."""
        self._bm25 = None
        self._indptr = self._indices = np.zeros(0, dtype=np.int64)

    def row_weights(self) -> sp.csr_matrix:
        """The (row, term id) BM25 weights as a row-major matrix: one chunk's sparse vector per row. bm25s
        stores them column-wise (postings per term)."""
        scores = self._bm25.scores
        return sp.csc_matrix((scores["data"], scores["indices"], scores["indptr"]),
                             shape=(self.n_rows, len(self._indptr) - 1)).tocsr()

    @property
    def n_terms(self) -> int:
        """Size of the vocabulary; term ids are 0 .. n_terms - 1."""
        return len(self._bm25.vocab_dict)

    def vocabulary(self) -> list[tuple[str, int, int]]:
        """(term, id, document frequency) of every term, by id."""
        df = np.diff(self._indptr)
        return [(term, tid, int(df[tid])) for term, tid in sorted(self._bm25.vocab_dict.items(),
                                                                   key=lambda item: item[1])]

    def save(self, directory: Path) -> None:
        """Write the index files into directory (created if needed)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> SparseIndex:
        """Read an index written by save; IndexCorruptError names the file that is missing or unreadable."""
        directory = Path(directory)
        for name in (*_JSON_FILES, *_ARRAY_FILES):
            if not (directory / name).is_file():
                raise IndexCorruptError(f"BM25 index file {directory / name} is missing; {REBUILD_HINT}")
        try:
            bm25 = bm25s.BM25.load(str(directory), mmap=mmap, show_progress=False)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, EOFError) as exc:
            raise IndexCorruptError(f"{_unreadable_file(directory, exc)}; {REBUILD_HINT}") from exc
        _check_consistent(directory, bm25)
        return cls(bm25)


def top_positive(scores: np.ndarray, k: int) -> list[tuple[int, float]]:
    """Up to k (row, score) pairs with score > 0, best first; ties go to the lower row."""
    if k < 0:
        raise ValueError(f"k must be >= 0, got {k}")
    matched = np.flatnonzero(scores > 0)
    best = matched[np.argsort(-scores[matched], kind="stable")][:k]
    return [(int(row), float(scores[row])) for row in best]


def _read_json(path: Path) -> Any:
    value = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, found {type(value).__name__}")
    return value


def _read_array(path: Path) -> Any:
    return np.load(path, allow_pickle=False)


def _unreadable_file(directory: Path, exc: Exception) -> str:
    """Which index file failed to load, found by reading each one on its own (only done after a failure)."""
    readers: list[tuple[str, Callable[[Path], Any]]] = [(name, _read_json) for name in _JSON_FILES]
    readers += [(name, _read_array) for name in _ARRAY_FILES]
    for name, read in readers:
        try:
            read(directory / name)
        except (OSError, ValueError, EOFError) as file_exc:
            return f"BM25 index file {directory / name} is unreadable ({file_exc})"
    return f"BM25 index in {directory} is unreadable ({type(exc).__name__}: {exc})"


def _check_consistent(directory: Path, bm25: bm25s.BM25) -> None:
    """Cheap structural checks, so a mismatched file fails at load time instead of on some later query."""
    scores = bm25.scores
    data, indices, indptr, num_docs = scores["data"], scores["indices"], scores["indptr"], scores["num_docs"]
    problems = []
    if not isinstance(num_docs, int) or num_docs < 1:
        problems.append(f"params.index.json has num_docs={num_docs!r}")
    if len(indptr) != len(bm25.vocab_dict) + 1:
        problems.append(f"indptr.csc.index.npy has {len(indptr)} entries for a vocabulary of "
                        f"{len(bm25.vocab_dict)} terms (vocab.index.json)")
    elif set(bm25.vocab_dict.values()) != set(range(len(bm25.vocab_dict))):
        problems.append("vocab.index.json does not number its terms 0..n-1")
    elif len(data) != len(indices) or (len(indptr) and int(indptr[-1]) != len(data)):
        problems.append("the lengths of data.csc.index.npy, indices.csc.index.npy and indptr.csc.index.npy "
                        "disagree")
    elif len(indices) and isinstance(num_docs, int) and int(indices.max()) >= num_docs:
        problems.append(f"indices.csc.index.npy refers to rows beyond num_docs={num_docs}")
    if problems:
        details = "; ".join(problems)
        raise IndexCorruptError(f"BM25 index in {directory} is inconsistent: {details}; {REBUILD_HINT}")
