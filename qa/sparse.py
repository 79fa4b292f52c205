"""BM25 keyword index over pre-tokenised rows, built, scored, saved and loaded with bm25s."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bm25s
import numpy as np
from bm25s.tokenization import Tokenized

from qa.errors import IndexCorruptError

# bm25s's default file names, listed so a broken index can be blamed on the file that is actually broken.
_JSON_FILES = ("params.index.json", "vocab.index.json")
_ARRAY_FILES = ("data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy")
_REBUILD = "rebuild the index with `qa index`"


class SparseIndex:
    """BM25 (Lucene variant, k1=1.5, b=0.75) scores of query tokens against every row."""

    def __init__(self, bm25: bm25s.BM25) -> None:
        self._bm25 = bm25

    @classmethod
    def build(cls, corpus_tokens: list[list[str]]) -> SparseIndex:
        """Index one row per token list; rows may be empty, but there must be at least one row."""
        if not corpus_tokens:
            raise ValueError("cannot build a BM25 index over zero rows")
        vocab: dict[str, int] = {}
        ids = [[vocab.setdefault(token, len(vocab)) for token in row] for row in corpus_tokens]
        bm25 = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
        # When every row is empty the average row length is 0 and bm25s divides 0 by 0 for rows that
        # contribute nothing to the index anyway; the warning would only be noise.
        with np.errstate(invalid="ignore", divide="ignore"):
            # No empty-string token: empty queries are answered here, without asking bm25s.
            bm25.index(Tokenized(ids=ids, vocab=vocab), create_empty_token=False, show_progress=False)
        return cls(bm25)

    @property
    def n_rows(self) -> int:
        return int(self._bm25.scores["num_docs"])

    def scores(self, query_tokens: list[str]) -> np.ndarray:
        """float32 BM25 score of every row; tokens outside the vocabulary contribute nothing."""
        token_ids = self._bm25.get_tokens_ids(query_tokens)
        if not token_ids:
            return np.zeros(self.n_rows, dtype=np.float32)
        return np.asarray(self._bm25.get_scores_from_ids(token_ids), dtype=np.float32)

    def search(self, query_tokens: list[str], k: int) -> list[tuple[int, float]]:
        """Up to k (row, score) pairs with score > 0, best first; ties go to the lower row."""
        if k < 0:
            raise ValueError(f"k must be >= 0, got {k}")
        scores = self.scores(query_tokens)
        matched = np.flatnonzero(scores > 0)
        best = matched[np.argsort(-scores[matched], kind="stable")][:k]
        return [(int(row), float(scores[row])) for row in best]

    def save(self, directory: Path) -> None:
        """Write the index files into directory (created if needed)."""
        Path(directory).mkdir(parents=True, exist_ok=True)
        self._bm25.save(str(directory), show_progress=False)

    @classmethod
    def load(cls, directory: Path) -> SparseIndex:
        """Read an index written by save; IndexCorruptError names the file that is missing or unreadable."""
        directory = Path(directory)
        for name in (*_JSON_FILES, *_ARRAY_FILES):
            if not (directory / name).is_file():
                raise IndexCorruptError(f"BM25 index file {directory / name} is missing; {_REBUILD}")
        try:
            bm25 = bm25s.BM25.load(str(directory), mmap=False, show_progress=False)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, EOFError) as exc:
            raise IndexCorruptError(f"{_unreadable_file(directory, exc)}; {_REBUILD}") from exc
        _check_consistent(directory, bm25)
        return cls(bm25)


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
        raise IndexCorruptError(f"BM25 index in {directory} is inconsistent: {details}; {_REBUILD}")
