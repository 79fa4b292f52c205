"""Tests for qa.corpus: every file format, doc_id rules, the seed corpus, fingerprints and error messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.chunking import split_sentences
from qa.corpus import Document, corpus_fingerprint, load_corpus
from qa.errors import CorpusError

SEED_CORPUS = Path(__file__).resolve().parent.parent / "corpus"

ARTICLE_HTML = """<!DOCTYPE html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>数字钱包使用小贴士 - 示例网站</title>
<link rel="canonical" href="https://example.com/tips/wallet">
<meta property="article:published_time" content="2024-05-01">
</head><body>
<nav><a href="/">首页</a> <a href="/about">关于我们</a></nav>
<article>
<h1>数字钱包使用小贴士</h1>
<p>使用数字钱包付款之前，请先确认手机已经连接到稳定的网络，否则付款请求可能会超时失败。</p>
<p>如果账户余额不足，可以先通过银行卡转账充值，再重新发起付款，一般几秒钟就能到账。</p>
<p>遇到无法解决的问题时，请记下页面上显示的错误代码，然后拨打客服热线寻求帮助。</p>
</article>
<footer>版权所有 © 示例网站</footer>
</body></html>
"""


def write(path: Path, content: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def test_markdown_front_matter_is_parsed(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "---\ntitle: 标题甲\ndate: 2024-12-17 20:36:50\nsource: 某网站\n"
          "url: \"https://example.com/a\"\n---\n\n## 一、小节\n\n正文第一段。\n")
    [doc] = load_corpus(tmp_path)
    assert doc == Document("a", "标题甲", "## 一、小节\n\n正文第一段。", url="https://example.com/a",
                           date="2024-12-17 20:36:50", source="某网站")


def test_markdown_title_defaults_to_first_h1_then_stem(tmp_path: Path) -> None:
    write(tmp_path / "with-heading.markdown", "前言\n\n# 真正的标题\n\n正文。")
    write(tmp_path / "plain.md", "## 只有二级标题\n\n正文。")
    docs = {d.doc_id: d for d in load_corpus(tmp_path)}
    assert docs["with-heading"].title == "真正的标题"
    assert docs["with-heading"].text == "前言\n\n# 真正的标题\n\n正文。"
    assert docs["plain"].title == "plain"
    assert docs["plain"].date is None and docs["plain"].source is None


def test_txt_title_is_first_nonempty_line_and_crlf_normalised(tmp_path: Path) -> None:
    write(tmp_path / "note.txt", b"\r\n\r\n  \xe6\xa0\x87\xe9\xa2\x98\r\nline two\r\n\r\n")
    [doc] = load_corpus(tmp_path)
    assert doc.title == "标题"
    assert doc.text == "标题\nline two"


def test_html_is_extracted_with_metadata(tmp_path: Path) -> None:
    write(tmp_path / "pages" / "tips.html", ARTICLE_HTML)
    [doc] = load_corpus(tmp_path)
    assert doc.doc_id == "pages/tips"
    assert "数字钱包使用小贴士" in doc.title
    assert "余额不足，可以先通过银行卡转账充值" in doc.text
    assert "拨打客服热线寻求帮助" in doc.text
    assert doc.url == "https://example.com/tips/wallet"
    assert doc.date == "2024-05-01"


def test_jsonl_documents_with_defaults(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "j1", "text": " 第一篇 ", "title": "一", "url": "https://e.com/1",
                    "date": "2024-01-01"}, ensure_ascii=False),
        "",
        json.dumps({"id": "j2", "text": "第二篇"}, ensure_ascii=False),
    ]
    write(tmp_path / "sub" / "docs.jsonl", "\n".join(lines) + "\n\n")
    docs = load_corpus(tmp_path)
    assert docs == [
        Document("j1", "一", "第一篇", url="https://e.com/1", date="2024-01-01"),
        Document("j2", "j2", "第二篇"),
    ]


def test_doc_ids_are_relative_posix_paths_sorted_and_hidden_or_unknown_files_skipped(tmp_path: Path) -> None:
    write(tmp_path / "b" / "c" / "deep.md", "深层")
    write(tmp_path / "a.txt", "顶层")
    write(tmp_path / "x.y.md", "带点的文件名")
    write(tmp_path / ".hidden.md", "隐藏文件")
    write(tmp_path / ".git" / "notes.md", "隐藏目录")
    write(tmp_path / "image.png", b"\x89PNG")
    write(tmp_path / "readme.rst", "ignored")
    assert [d.doc_id for d in load_corpus(tmp_path)] == ["a", "b/c/deep", "x.y"]


def test_seed_corpus_loads() -> None:
    docs = load_corpus(SEED_CORPUS)
    assert len(docs) == 6
    by_id = {d.doc_id: d for d in docs}
    main = by_id["icbc-wallet/payment-failure"]
    assert main.title == "工行数字钱包支付失败的解决方案与常见问题解"
    assert main.date == "2024-12-17 20:36:50"
    assert "确认是否有重复扣款现象" in main.text
    assert "## 一、工行数字钱包支付失败的原因" in main.text
    assert main.text.startswith("## 一、")
    assert main.text.endswith("日常的支付体验将会更加顺畅。")
    assert by_id["icbc-wallet/author-tpwallet"].title == "作者：tpwallet"
    for doc in docs:
        assert "分享" not in doc.text and "标签" not in doc.text and "**" not in doc.text
        assert "```" not in doc.text
    teasers = [d for d in docs if d.doc_id.startswith("icbc-wallet/news-")]
    assert len(teasers) == 4
    assert all(d.text.endswith("...") and d.date for d in teasers)


def test_fingerprint_is_order_independent_and_sensitive_to_every_field() -> None:
    docs = load_corpus(SEED_CORPUS)
    fp = corpus_fingerprint(docs)
    assert len(fp) == 64 and fp == corpus_fingerprint(list(reversed(docs)))
    changed_text = [Document(docs[0].doc_id, docs[0].title, docs[0].text + "。"), *docs[1:]]
    assert corpus_fingerprint(changed_text) != fp
    changed_date = [Document(docs[0].doc_id, docs[0].title, docs[0].text, url=docs[0].url,
                             date="1999-01-01", source=docs[0].source), *docs[1:]]
    assert corpus_fingerprint(changed_date) != fp


def test_fingerprint_is_stable_under_file_creation_order(tmp_path: Path) -> None:
    first, second = tmp_path / "one", tmp_path / "two"
    write(first / "a.md", "甲")
    write(first / "b.md", "乙")
    write(second / "b.md", "乙")
    write(second / "a.md", "甲")
    assert corpus_fingerprint(load_corpus(first)) == corpus_fingerprint(load_corpus(second))


def test_missing_corpus_dir(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")


def test_corpus_path_is_a_file(tmp_path: Path) -> None:
    target = write(tmp_path / "file.md", "正文")
    with pytest.raises(CorpusError, match="not a directory"):
        load_corpus(target)


def test_no_supported_files_lists_extensions(tmp_path: Path) -> None:
    write(tmp_path / "notes.doc", b"binary")
    with pytest.raises(CorpusError, match=r"\.md.*\.jsonl.*\.pdf.*notes\.doc \(unsupported extension \.doc\)"):
        load_corpus(tmp_path)


BAD_INPUTS = [
    ("bad.md", b"\xff\xfe\x00bad bytes", None, "not valid UTF-8"),
    ("blank.txt", "  \n\t\n", None, "empty document"),
    ("blank.md", "\n\n   \n", None, "empty document"),
    ("zeros.txt", b"\x00" * 4096, None, "empty document"),
    ("zeros.md", b"\x00\x00 \n\x00\t", None, "empty document"),
    ("only-meta.md", "---\ntitle: 只有元数据\n---\n\n  \n", None, "empty document"),
    ("open.md", "---\ntitle: 没有结尾\n正文", None, "never closed"),
    ("typo.md", "---\ntitel: 拼错了\n---\n正文", None, "key one of title"),
    ("page.html", "<html><head><title>空</title></head><body><div></div></body></html>", None,
     "no main text"),
    ("blank.jsonl", "\n  \n", None, "empty document"),
    ("docs.jsonl", '{"id": "a", "text": "好"}\n{"id": "b", "text": \n', 2, "invalid JSON"),
    ("docs.jsonl", '{"id": "a", "text": "好"}\n\n["b", "文本"]\n', 3, "expected a JSON object"),
    ("docs.jsonl", '{"id": "a"}\n', 1, "'text' is missing"),
    ("docs.jsonl", '{"id": "a", "text": 5}\n', 1, "'text' is missing or not a non-empty string"),
    ("docs.jsonl", '{"id": "a", "text": "   "}\n', 1, "'text' is missing or not a non-empty string"),
    ("docs.jsonl", '{"id": "a", "text": "\\u0000 \\u0000"}\n', 1, "'text' is missing or not a non-empty string"),
    ("bytes.jsonl", b'{"id": "a", "text": "\xff"}\n', 1, "not valid UTF-8"),
    ("docs.jsonl", '{"text": "没有编号"}\n', 1, "'id' is missing"),
    ("docs.jsonl", '{"id": 7, "text": "数字编号"}\n', 1, "'id' is missing or not a non-empty string"),
    ("docs.jsonl", '{"id": "a", "text": "好", "title": 3}\n', 1, "'title' must be a string"),
    ("docs.jsonl", '{"id": "a", "text": "好", "body": "多余"}\n', 1, "unknown field"),
]


@pytest.mark.parametrize(("name", "content", "line", "fragment"), BAD_INPUTS,
                         ids=[f"{n}-{f}" for n, _, _, f in BAD_INPUTS])
def test_bad_input_names_file_and_line(tmp_path: Path, name: str, content: str | bytes, line: int | None,
                                       fragment: str) -> None:
    write(tmp_path / "good.md", "正常的文档")
    path = write(tmp_path / name, content)
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    message = str(info.value)
    assert str(path) in message
    assert fragment in message
    if line is not None:
        assert f"line {line}:" in message


def test_duplicate_doc_id_names_both_sources(tmp_path: Path) -> None:
    first = write(tmp_path / "same.md", "一")
    second = write(tmp_path / "same.txt", "二")
    with pytest.raises(CorpusError, match="duplicate doc_id 'same'") as info:
        load_corpus(tmp_path)
    assert str(first) in str(info.value) and str(second) in str(info.value)


def test_duplicate_jsonl_id_names_both_lines(tmp_path: Path) -> None:
    path = write(tmp_path / "docs.jsonl", '{"id": "x", "text": "一"}\n{"id": "x", "text": "二"}\n')
    with pytest.raises(CorpusError) as info:
        load_corpus(tmp_path)
    assert f"{path} line 1" in str(info.value) and f"{path} line 2" in str(info.value)


@pytest.mark.parametrize(("name", "answerable", "unanswerable"),
                         [("seed_dev.jsonl", 64, 64), ("seed_heldout.jsonl", 24, 36)])
def test_eval_gold_pieces_are_verbatim_and_unique_in_seed_corpus(name: str, answerable: int,
                                                                 unanswerable: int) -> None:
    docs = load_corpus(SEED_CORPUS)
    lines = (SEED_CORPUS.parent / "eval" / name).read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines]
    assert len({r["id"] for r in rows}) == len(rows)
    assert all(r["lang"] in {"zh-Hans", "zh-Hant", "en"} and r["question"].strip() for r in rows)
    gold_rows = [r for r in rows if "gold" in r]
    assert len(gold_rows) == answerable
    assert sum(r.get("unanswerable") is True for r in rows) == unanswerable
    for row in gold_rows:
        assert row["gold"], row["id"]
        for piece in row["gold"]:
            assert 8 <= len(piece) <= 25, (row["id"], piece)
            assert sum(d.text.count(piece) for d in docs) == 1, (row["id"], piece)


@pytest.mark.parametrize("name", ["seed_dev.jsonl", "seed_heldout.jsonl"])
def test_eval_answer_sentences_lie_verbatim_inside_one_corpus_sentence(name: str) -> None:
    docs = load_corpus(SEED_CORPUS)
    sentences = [d.text[s:e] for d in docs for s, e in split_sentences(d.text)]
    lines = (SEED_CORPUS.parent / "eval" / name).read_text(encoding="utf-8").splitlines()
    for row in (json.loads(line) for line in lines):
        if row.get("unanswerable"):
            assert "answer_sentences" not in row, row["id"]
            continue
        assert row["answer_sentences"], row["id"]
        for piece in row["answer_sentences"]:
            assert len(piece) >= 8, (row["id"], piece)
            # a piece must name one sentence: it sits inside it, and inside no other
            assert sum(piece in s for s in sentences) == 1, (row["id"], piece)
            assert not any(s.endswith("...") or s.endswith("…") for s in sentences if piece in s), (row["id"], piece)
