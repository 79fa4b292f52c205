"""Tests for qa.sparse: BM25 ranking over jieba tokens, save/load round trip and corrupt-index errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from qa.errors import IndexCorruptError
from qa.index.sparse import SparseIndex
from qa.tokens import tokenize

TEXTS = [
    "网络信号不稳定会导致数字钱包支付失败，请切换网络后重试。",
    "账户余额不足时支付会失败，请先通过银行转账充值余额。",
    "忘记登录密码时，可以通过找回密码流程重新设置密码。",
    "",  # an empty row must not break anything
    "联系银行客服可以查询交易记录和重复扣款。",
]


@pytest.fixture
def index() -> SparseIndex:
    return SparseIndex.build([tokenize(text) for text in TEXTS])


def test_ranking_on_a_small_chinese_corpus(index: SparseIndex) -> None:
    assert index.n_rows == len(TEXTS)
    assert index.search(tokenize("余额不足怎么办"), k=3)[0][0] == 1
    assert index.search(tokenize("忘記密碼了"), k=3)[0][0] == 2  # traditional query, simplified corpus
    assert index.search(tokenize("网络不好支付失败"), k=1)[0][0] == 0
    hits = index.search(tokenize("银行客服"), k=5)
    assert [row for row, _ in hits][:1] == [4]
    assert {row for row, _ in hits} == {1, 4}  # both rows mentioning 银行, nothing else


def test_scores_cover_every_row_as_float32(index: SparseIndex) -> None:
    scores = index.scores(tokenize("支付失败"))
    assert scores.dtype == np.float32
    assert scores.shape == (len(TEXTS),)
    assert scores[3] == 0.0
    assert scores[0] > 0 and scores[1] > 0 and scores[2] == 0


def test_search_is_sorted_positive_and_limited(index: SparseIndex) -> None:
    hits = index.search(tokenize("支付失败 余额 密码 客服"), k=3)
    assert len(hits) == 3
    assert all(score > 0 for _, score in hits)
    assert [score for _, score in hits] == sorted((score for _, score in hits), reverse=True)
    assert index.search(tokenize("支付"), k=0) == []
    with pytest.raises(ValueError):
        index.search(["支付"], k=-1)


def test_unknown_and_empty_queries(index: SparseIndex) -> None:
    assert not index.scores(["区块链", "比特币"]).any()
    assert index.search(["区块链"], k=5) == []
    assert not index.scores([]).any()
    assert index.search([], k=5) == []
    assert index.scores(["未知词", "密码"]).tolist() == index.scores(["密码"]).tolist()


def test_rows_without_tokens() -> None:
    only_empty = SparseIndex.build([[], []])
    assert only_empty.n_rows == 2
    assert only_empty.search(["支付"], k=3) == []
    assert only_empty.scores([]).tolist() == [0.0, 0.0]


def test_zero_rows_are_rejected() -> None:
    with pytest.raises(ValueError, match="zero rows"):
        SparseIndex.build([])


def test_save_load_round_trip(index: SparseIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "sparse")
    loaded = SparseIndex.load(tmp_path / "sparse")
    assert loaded.n_rows == index.n_rows
    for query in ("支付失败", "余额不足", "找回密码", "客服", "没有的词"):
        assert np.array_equal(loaded.scores(tokenize(query)), index.scores(tokenize(query)))
        assert loaded.search(tokenize(query), k=5) == index.search(tokenize(query), k=5)


@pytest.mark.parametrize("name", ["params.index.json", "vocab.index.json", "data.csc.index.npy",
                                  "indices.csc.index.npy", "indptr.csc.index.npy"])
def test_missing_file_names_the_file(index: SparseIndex, tmp_path: Path, name: str) -> None:
    index.save(tmp_path)
    (tmp_path / name).unlink()
    with pytest.raises(IndexCorruptError, match=name.replace(".", r"\.") + " is missing"):
        SparseIndex.load(tmp_path)


@pytest.mark.parametrize("name", ["params.index.json", "vocab.index.json", "data.csc.index.npy",
                                  "indices.csc.index.npy", "indptr.csc.index.npy"])
def test_garbled_file_names_the_file(index: SparseIndex, tmp_path: Path, name: str) -> None:
    index.save(tmp_path)
    (tmp_path / name).write_bytes(b"\x00garbage{")
    with pytest.raises(IndexCorruptError, match=name.replace(".", r"\.")):
        SparseIndex.load(tmp_path)


@pytest.mark.parametrize("name", ["params.index.json", "vocab.index.json"])
def test_json_that_is_not_an_object_names_the_file(index: SparseIndex, tmp_path: Path, name: str) -> None:
    index.save(tmp_path)
    (tmp_path / name).write_text("[1, 2]", encoding="utf-8")
    message = name.replace(".", r"\.") + r" is unreadable \(expected a JSON object"
    with pytest.raises(IndexCorruptError, match=message):
        SparseIndex.load(tmp_path)


def test_truncated_array_names_the_file(index: SparseIndex, tmp_path: Path) -> None:
    index.save(tmp_path)
    path = tmp_path / "data.csc.index.npy"
    path.write_bytes(path.read_bytes()[:-8])
    with pytest.raises(IndexCorruptError, match=r"data\.csc\.index\.npy"):
        SparseIndex.load(tmp_path)


def test_files_from_different_indexes_are_detected(index: SparseIndex, tmp_path: Path) -> None:
    index.save(tmp_path / "a")
    SparseIndex.build([["甲"], ["乙", "丙"]]).save(tmp_path / "b")
    (tmp_path / "a" / "vocab.index.json").write_bytes((tmp_path / "b" / "vocab.index.json").read_bytes())
    with pytest.raises(IndexCorruptError, match="inconsistent"):
        SparseIndex.load(tmp_path / "a")


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(IndexCorruptError, match="missing"):
        SparseIndex.load(tmp_path / "nowhere")


def test_row_by_row_builder_scores_like_bm25s_own_indexer() -> None:
    import bm25s
    from bm25s.tokenization import Tokenized

    rows = [tokenize(text) for text in TEXTS] + [["支付", "支付", "失败"], ["余额"]]
    vocab: dict[str, int] = {}
    ids = [[vocab.setdefault(t, len(vocab)) for t in row] for row in rows]
    reference = bm25s.BM25(k1=1.5, b=0.75, method="lucene")
    reference.index(Tokenized(ids=ids, vocab=vocab), create_empty_token=False, show_progress=False)
    ours = SparseIndex.build(rows)
    for query in (["支付"], ["余额", "失败"], tokenize("忘记密码怎么办"), ["客服", "交易", "支付"]):
        expected = reference.get_scores_from_ids([vocab[t] for t in query if t in vocab])
        np.testing.assert_allclose(ours.scores(query), expected, rtol=1e-6)


def test_document_frequencies_and_presence_come_from_the_postings(index: SparseIndex) -> None:
    rows_with = {t: {i for i, text in enumerate(TEXTS) if t in tokenize(text)} for t in ("支付", "密码", "没有的词")}
    df = index.document_frequencies(list(rows_with))
    assert df.tolist() == [len(rows) for rows in rows_with.values()]
    presence = index.presence(list(rows_with), np.array([4, 0, 2]))
    assert presence.tolist() == [[r in rows for rows in rows_with.values()] for r in (4, 0, 2)]
