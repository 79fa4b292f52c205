"""Tests for qa.chunking: sentences, heading paths, packing with overlap and the offsets invariant."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from qa.chunking import Chunk, ChunkSettings, chunk_corpus, chunk_document, split_sentences
from qa.corpus import Document, load_corpus

REPO_CORPUS = Path(__file__).resolve().parent.parent / "corpus"

MARKDOWN = """# 工行数字钱包

开头的介绍。

## 一、支付失败的原因

支付失败的原因可以归结为以下几个方面:

1. 网络问题:网络信号不稳定。
2. 账户余额不足:如果余额不足,支付就会失败。

### 网络

请检查网络连接!换一个网络再试?

## 二、如何解决

联系银行客服。
"""

PLAIN = """工行数字钱包支付失败的解决方案

一、支付失败的原因
网络信号不稳定会导致支付失败。
（一）余额不足
余额不足时支付会失败。
二、如何解决
联系客服。
一、这一行虽然以序号开头，但它是一个完整的句子。
"""


def _doc(text: str, title: str = "标题", doc_id: str = "d") -> Document:
    return Document(doc_id=doc_id, title=title, text=text)


def _texts(text: str, spans: list[tuple[int, int]]) -> list[str]:
    return [text[s:e] for s, e in spans]


def _assert_invariants(doc: Document, chunks: list[Chunk], settings: ChunkSettings) -> None:
    for i, chunk in enumerate(chunks):
        assert chunk.chunk_id == f"{doc.doc_id}:{i}"
        assert chunk.doc_id == doc.doc_id
        assert doc.text[chunk.start:chunk.end] == chunk.text
        assert chunk.text == chunk.text.strip() and chunk.text
        assert chunk.end - chunk.start <= settings.max_chars
        assert chunk.headings[0] == doc.title


# --- split_sentences -------------------------------------------------------------------------------------


def test_sentences_end_at_chinese_and_ascii_marks() -> None:
    text = "第一句。第二句！第三句？第四句；fifth! sixth? seventh; 最后没有标点"
    assert _texts(text, split_sentences(text)) == [
        "第一句。", "第二句！", "第三句？", "第四句；", "fifth!", "sixth?", "seventh;", "最后没有标点"]


def test_closing_quotes_and_repeated_marks_stay_with_their_sentence() -> None:
    text = "他说：「真的吗？！」然后走了……「好。」』最后（注释。）结束"
    assert _texts(text, split_sentences(text)) == [
        "他说：「真的吗？！」", "然后走了……", "「好。」』", "最后（注释。）", "结束"]


def test_line_breaks_end_sentences_and_whitespace_is_excluded() -> None:
    text = "  1. 网络问题:信号不稳定\n2. 余额不足\n\n\n   段落一行 \r\n最后。  "
    assert _texts(text, split_sentences(text)) == [
        "1. 网络问题:信号不稳定", "2. 余额不足", "段落一行", "最后。"]


def test_split_sentences_within_a_range_returns_absolute_offsets() -> None:
    text = "前面。中间一。中间二。后面。"
    start = text.index("中间一")
    end = text.index("后面")
    spans = split_sentences(text, start, end)
    assert _texts(text, spans) == ["中间一。", "中间二。"]
    assert spans[0][0] == start


def test_split_sentences_of_blank_text_is_empty() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\t\u3000\n") == []


# --- headings ----------------------------------------------------------------------------------------------


def test_markdown_headings_are_carried_level_aware_and_excluded_from_text() -> None:
    doc = _doc(MARKDOWN, title="工行数字钱包")
    chunks = chunk_document(doc, ChunkSettings(max_chars=400, overlap=0))
    assert [(c.headings, c.text) for c in chunks] == [
        (("工行数字钱包",), "开头的介绍。"),
        (("工行数字钱包", "一、支付失败的原因"),
         "支付失败的原因可以归结为以下几个方面:\n\n1. 网络问题:网络信号不稳定。\n"
         "2. 账户余额不足:如果余额不足,支付就会失败。"),
        (("工行数字钱包", "一、支付失败的原因", "网络"), "请检查网络连接!换一个网络再试?"),
        (("工行数字钱包", "二、如何解决"), "联系银行客服。"),
    ]
    assert all("#" not in c.text for c in chunks)


def test_markdown_title_heading_differing_from_doc_title_is_kept_in_the_path() -> None:
    doc = _doc("# 另一个标题\n\n正文。\n", title="文档标题")
    (chunk,) = chunk_document(doc)
    assert chunk.headings == ("文档标题", "另一个标题")


def test_hash_lines_inside_code_fences_are_not_headings() -> None:
    doc = _doc("## 示例\n\n```\n# 这是注释\nprint(1)\n```\n")
    chunks = chunk_document(doc, ChunkSettings(max_chars=400, overlap=0))
    assert [c.headings for c in chunks] == [("标题", "示例")]
    assert "# 这是注释" in chunks[0].text


def test_plain_text_ordinal_headings() -> None:
    doc = _doc(PLAIN, title="工行数字钱包支付失败的解决方案")
    chunks = chunk_document(doc, ChunkSettings(max_chars=400, overlap=0))
    assert [(c.headings[1:], c.text) for c in chunks] == [
        ((), "工行数字钱包支付失败的解决方案"),
        (("一、支付失败的原因",), "网络信号不稳定会导致支付失败。"),
        (("一、支付失败的原因", "（一）余额不足"), "余额不足时支付会失败。"),
        (("二、如何解决",), "联系客服。\n一、这一行虽然以序号开头，但它是一个完整的句子。"),
    ]


def test_chapter_headings_in_plain_text() -> None:
    doc = _doc("第一章 总则\n本章说明总则。\n第一节 范围\n适用于所有用户。\n第二章 细则\n细则内容。")
    chunks = chunk_document(doc, ChunkSettings(max_chars=400, overlap=0))
    assert [c.headings[1:] for c in chunks] == [
        ("第一章 总则",), ("第一章 总则", "第一节 范围"), ("第二章 细则",)]


def test_ordinal_lines_are_text_in_markdown_documents() -> None:
    doc = _doc("## 原因\n\n一、网络问题\n二、余额不足\n")
    (chunk,) = chunk_document(doc)
    assert chunk.headings == ("标题", "原因")
    assert chunk.text == "一、网络问题\n二、余额不足"


def test_empty_sections_produce_no_chunks() -> None:
    doc = _doc("# 一\n\n## 空的\n\n   \n## 也是空的\n---\n## 有内容\n\n内容。\n")
    chunks = chunk_document(doc)
    assert [(c.headings[1:], c.text) for c in chunks] == [(("一", "有内容"), "内容。")]


def test_document_with_only_headings_has_no_chunks() -> None:
    assert chunk_document(_doc("# 标题\n\n## 第一部分\n\n### 小节\n")) == []


def test_match_text_prefixes_the_heading_path() -> None:
    (chunk,) = chunk_document(_doc("## 原因\n\n网络不稳定。", title="支付失败"))
    assert chunk.match_text == "支付失败 / 原因\n网络不稳定。"


# --- packing -----------------------------------------------------------------------------------------------


def test_overlap_repeats_the_last_sentence_of_the_previous_chunk() -> None:
    sentences = [f"第{i}句话内容是这样。" for i in range(6)]  # 10 characters each
    doc = _doc("".join(sentences))
    chunks = chunk_document(doc, ChunkSettings(max_chars=30, overlap=1))
    assert [c.text for c in chunks] == [
        "".join(sentences[0:3]), "".join(sentences[2:5]), "".join(sentences[4:6])]
    no_overlap = chunk_document(doc, ChunkSettings(max_chars=30, overlap=0))
    assert [c.text for c in no_overlap] == ["".join(sentences[0:3]), "".join(sentences[3:6])]


def test_overlap_is_reduced_when_it_leaves_no_room_and_never_loops() -> None:
    sentences = ["短句。", "这是一个相当长的句子，长度接近上限了。", "第三句也比较长一点点的句子。"]
    doc = _doc("".join(sentences))
    chunks = chunk_document(doc, ChunkSettings(max_chars=25, overlap=5))
    _assert_invariants(doc, chunks, ChunkSettings(max_chars=25, overlap=5))
    assert [c.text for c in chunks] == ["短句。" + sentences[1], sentences[2]]


def test_large_overlap_with_many_sentences_terminates_and_advances() -> None:
    doc = _doc("。".join(f"句{i}" for i in range(200)) + "。")
    settings = ChunkSettings(max_chars=20, overlap=5)
    chunks = chunk_document(doc, settings)
    _assert_invariants(doc, chunks, settings)
    assert chunks[-1].text.endswith("句199。")
    assert all(b.start > a.start for a, b in itertools.pairwise(chunks))


def test_long_sentence_is_split_at_the_last_clause_mark_that_fits() -> None:
    sentence = "第一个分句写得比较长一些，第二个分句也写得比较长，第三个分句、第四个分句：最后的结尾部分。"
    doc = _doc(sentence)
    chunks = chunk_document(doc, ChunkSettings(max_chars=30, overlap=0))
    assert [c.text for c in chunks] == [
        "第一个分句写得比较长一些，第二个分句也写得比较长，", "第三个分句、第四个分句：最后的结尾部分。"]


def test_long_sentence_without_clause_marks_is_hard_cut() -> None:
    sentence = "字" * 50 + "。"
    chunks = chunk_document(_doc(sentence), ChunkSettings(max_chars=20, overlap=0))
    assert [len(c.text) for c in chunks] == [20, 20, 11]
    assert "".join(c.text for c in chunks) == sentence


def test_ascii_clause_marks_and_spaces_after_them() -> None:
    sentence = "first clause is rather long, second clause is also long: and the end"
    chunks = chunk_document(_doc(sentence), ChunkSettings(max_chars=30, overlap=0))
    assert [c.text for c in chunks] == [
        "first clause is rather long,", "second clause is also long:", "and the end"]


def test_traditional_chinese_document() -> None:
    text = "## 一、支付失敗的原因\n\n網絡信號不穩定會導致支付失敗。帳戶餘額不足時，支付也會被拒絕！\n"
    doc = _doc(text, title="工行數字錢包")
    chunks = chunk_document(doc, ChunkSettings(max_chars=25, overlap=0))
    assert [c.text for c in chunks] == ["網絡信號不穩定會導致支付失敗。", "帳戶餘額不足時，支付也會被拒絕！"]
    assert all(c.headings == ("工行數字錢包", "一、支付失敗的原因") for c in chunks)


@pytest.mark.parametrize("max_chars, overlap", [(20, 0), (20, 5), (60, 1), (240, 1), (1000, 2)])
@pytest.mark.parametrize("text", [MARKDOWN, PLAIN, "单独一句没有标点", "a" * 500, "。！？\n\n……"])
def test_offsets_invariant_on_varied_documents(text: str, max_chars: int, overlap: int) -> None:
    doc = _doc(text)
    settings = ChunkSettings(max_chars=max_chars, overlap=overlap)
    _assert_invariants(doc, chunk_document(doc, settings), settings)


def test_offsets_invariant_on_the_repository_corpus() -> None:
    if not REPO_CORPUS.is_dir() or not any(p.is_file() for p in REPO_CORPUS.rglob("*")):
        pytest.skip("corpus/ has no files yet")
    docs = load_corpus(REPO_CORPUS)
    for settings in (ChunkSettings(), ChunkSettings(max_chars=60, overlap=2)):
        chunks = chunk_corpus(docs, settings)
        assert chunks
        for doc in docs:
            _assert_invariants(doc, [c for c in chunks if c.doc_id == doc.doc_id], settings)


def test_chunk_corpus_keeps_document_order() -> None:
    docs = [_doc("甲。", doc_id="b"), _doc("乙。", doc_id="a")]
    assert [c.chunk_id for c in chunk_corpus(docs)] == ["b:0", "a:0"]


@pytest.mark.parametrize("kwargs", [{"max_chars": 19}, {"overlap": -1}, {"overlap": 6}, {"max_chars": 2.5}])
def test_invalid_settings_are_rejected(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="chunk"):
        ChunkSettings(**kwargs)  # type: ignore[arg-type]
