"""Server-rendered pages: the form, answers and source cards without JavaScript, escaping, document pages."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from conftest import SEED_EXAMPLES
from flask import Flask
from flask.testing import FlaskClient

from qa.serve.app import create_app
from qa.serve.web import answer_pieces, document_blocks, passage_runs, split_marked
from qa.service import QAService

ANSWERABLE = "付款失败但钱被扣了两次怎么办？"
SCRIPT = "<script>alert(1)</script>"


@pytest.fixture(scope="module")
def client(service: QAService) -> FlaskClient:
    return create_app({"TESTING": True, "QA_SERVICE": service}).test_client()


@pytest.fixture(scope="module")
def hostile_app(hostile_service: QAService) -> Flask:
    """The app over the hostile corpus (conftest): markup in its title, heading and text."""
    return create_app({"TESTING": True, "QA_SERVICE": hostile_service})


def page(client: FlaskClient, url: str, status: int = 200) -> str:
    response = client.get(url)
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "text/html"
    return response.get_data(as_text=True)


def first_doc_link(text: str) -> str:
    match = re.search(r'<a class="doc-link" href="([^"]+)"', text)
    assert match, "no source card links to its document"
    return html.unescape(match.group(1))


def test_home_has_form_and_examples(client: FlaskClient) -> None:
    text = page(client, "/")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text
    assert re.search(r'<form id="ask-form"[^>]*action="/"[^>]*method="get"', text)
    assert re.search(r'<input id="q" name="q"[^>]*placeholder="[^"]+"', text)
    for example in SEED_EXAMPLES:
        assert f">{html.escape(example)}</a>" in text
    assert 'id="results"' in text and 'class="answer' not in text


def test_nothing_loads_from_another_origin(client: FlaskClient) -> None:
    text = page(client, f"/?q={ANSWERABLE}")
    assert not re.search(r'(?:src|href)="(?:https?:)?//', text)
    response = client.get("/")
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    for asset in ("/static/app.js", "/static/style.css"):
        assert f'"{asset}"' in text
        body = client.get(asset).get_data(as_text=True)
        assert body and "http://" not in body and "https://" not in body
        assert not re.search(r"\.(?:inner|outer)HTML\s*=|insertAdjacentHTML|document\.write", body)


def test_question_is_answered_on_the_server(client: FlaskClient) -> None:
    text = page(client, f"/?q={ANSWERABLE}")
    assert f'value="{ANSWERABLE}"' in text
    answer = re.search(r'<p class="answer-text">(.*?)</p>', text, re.S)
    assert answer, "the answer is rendered without JavaScript"
    # each [n] leads to its own sentence, marked inside source card n
    cited = re.findall(r'<a class="cite" href="#quote-(\d+)">\[(\d+)\]</a>', answer.group(1))
    assert cited
    for quote, n in cited:
        card = re.search(rf'<li class="source" id="source-{n}">(.*?)</li>', text, re.S)
        assert card and f'<span class="quote" id="quote-{quote}"' in card.group(1)
    quoted = re.findall(r'<span class="quote" id="quote-\d+"[^>]*>(.*?)</span>', text, re.S)
    plain_answer = re.sub(r"<[^>]+>", "", answer.group(1))
    for sentence in quoted:
        assert re.sub(r"<[^>]+>", "", sentence) in plain_answer
    assert text.count('<li class="source"') == 5
    assert "<mark>" in text
    links = re.findall(r'<a class="doc-link" href="([^"]+)"', text)
    assert len(links) == 5
    for link in links:
        assert re.fullmatch(r"/doc/[^?#]+\?chunk=[^&]+&amp;start=\d+&amp;end=\d+#.+", link)


def test_abstention_looks_different_and_still_lists_passages(client: FlaskClient) -> None:
    text = page(client, "/?q=Who won the NBA finals last year?")
    assert '<section class="answer unanswered"' in text and "没有找到答案" in text
    assert "语料中没有找到能回答这个问题的内容" in text and 'class="answer-text"' not in text
    assert '<section class="sources closest"' in text and "最接近的段落" in text
    assert '<li class="source" id="source-1">' in text and 'class="quote"' not in text


def test_script_question_is_escaped(client: FlaskClient) -> None:
    text = page(client, f"/?q={SCRIPT}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script>alert" not in text
    assert len(re.findall(r"<script", text)) == 1  # only the page's own app.js


def test_corpus_markup_is_escaped(hostile_app: Flask) -> None:
    client = hostile_app.test_client()
    text = page(client, "/?q=付款失败怎么办")
    assert "&lt;img src=x onerror=alert(1)&gt;退款" in text
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in text
    assert "<img" not in text and "<script>alert" not in text
    link = first_doc_link(text)
    assert link.startswith("/doc/%E5%9D%8F/evil?")  # the non-ASCII doc_id is url-encoded, its "/" kept
    doc = page(client, link)
    assert "&lt;b&gt;小节&lt;/b&gt;" in doc and "<b>" not in doc
    assert "<script>alert" not in doc
    assert 'href="javascript:' not in doc  # a non-http url is shown as text, not linked


def test_errors_show_near_the_box(client: FlaskClient) -> None:
    text = page(client, "/?q=" + "问" * 501, 400)
    error = re.search(r'<p id="form-error" class="form-error" role="alert">(.+?)</p>', text)
    assert error and "500" in error.group(1)
    assert 'aria-invalid="true"' in text
    assert 'class="answer' not in text


def test_a_control_character_is_refused_near_the_box(client: FlaskClient) -> None:
    text = page(client, "/?q=abc%00def", 400)
    error = re.search(r'<p id="form-error" class="form-error" role="alert">(.+?)</p>', text)
    assert error and "control character (U+0000 at position 3)" in error.group(1)
    assert 'aria-invalid="true"' in text
    assert 'class="answer' not in text


@pytest.mark.parametrize("query", ["", "?q=", "?q=%20%20"])
def test_blank_question_shows_the_empty_form(client: FlaskClient, query: str) -> None:
    text = page(client, "/" + query)
    assert 'id="form-error" class="form-error" role="alert" hidden' in text
    assert 'class="answer' not in text


def test_document_page_marks_the_passage(client: FlaskClient, service: QAService) -> None:
    source = client.post("/api/ask", json={"question": ANSWERABLE}).get_json()["sources"][0]
    link = first_doc_link(page(client, f"/?q={ANSWERABLE}"))
    text = page(client, link)
    doc = service.document(source["doc_id"])
    assert f"<h1>{html.escape(doc.title)}</h1>" in text
    chunk_id = html.escape(source["chunk_id"])
    assert text.count(f'id="{chunk_id}"') == 1
    marked = re.findall(r'<mark class="passage-mark"[^>]*>(.*?)</mark>', text, re.S)
    passage = doc.text[source["start"]:source["end"]]
    assert re.sub(r"\s", "", html.unescape("".join(marked))) == re.sub(r"\s", "", passage)
    assert f'data-anchor="{chunk_id}"' in text


def test_document_headings_and_paragraphs(client: FlaskClient, service: QAService) -> None:
    doc_id = "icbc-wallet/payment-failure"
    text = page(client, f"/doc/{doc_id}")
    assert "<h3>一、工行数字钱包支付失败的原因</h3>" in text
    assert "## " not in text
    assert "<mark" not in text
    assert text.count("<p>") >= 10


@pytest.mark.parametrize("query", ["?start=1", "?start=a&end=5", "?start=5&end=5", "?start=0&end=999999"])
def test_document_rejects_bad_ranges(client: FlaskClient, query: str) -> None:
    text = page(client, f"/doc/icbc-wallet/payment-failure{query}", 400)
    assert "start" in text and "链接" in text


def test_unknown_document_is_a_404_page(client: FlaskClient) -> None:
    text = page(client, "/doc/no/such/doc", 404)
    assert "no/such/doc" in text and "<h1>" in text
    assert "没有这篇文章" in text and "no document" not in text
    assert "这个地址没有页面" in page(client, "/nope", 404)


def test_answer_pieces_link_only_existing_sources() -> None:
    pieces = answer_pieces("甲。[1]乙[9]。丙[2]", {1, 2})
    assert [(p.text, p.n) for p in pieces] == [("甲。", None), ("[1]", 1), ("乙[9]。丙", None), ("[2]", 2)]


def test_answer_pieces_lead_to_their_quoted_sentence() -> None:
    pieces = answer_pieces("甲。[2]乙。[1]", {1, 2}, [2, 1])
    assert [(p.n, p.quote) for p in pieces if p.n] == [(2, 1), (1, 2)]
    assert [p.quote for p in answer_pieces("甲。[2]", {2}, [1]) if p.n] == [None]  # quote in another source


def test_passage_runs_nest_highlights_inside_quotes() -> None:
    runs = passage_runs("甲乙丙丁戊", [[1, 3]], [(2, 2, 4)])
    assert [(r.quote, [(s.text, s.marked) for s in r.segments]) for r in runs] == [
        (None, [("甲", False), ("乙", True)]), (2, [("丙", True), ("丁", False)]), (None, [("戊", False)])]
    assert [r.quote for r in passage_runs("甲", [], [])] == [None]


def test_split_marked_clips_and_skips_overlaps() -> None:
    segments = split_marked("abcdef", [[4, 99], [1, 3], [2, 4]], anchor="x")
    assert [(s.text, s.marked, s.anchor) for s in segments] == [
        ("a", False, None), ("bc", True, "x"), ("d", False, None), ("ef", True, None)]


def test_document_blocks_span_paragraphs(tmp_path: Path) -> None:
    text = "# 标题\n\n第一段。\n续行。\n\n## 小节\n第二段。"
    start = text.index("续行")
    blocks = document_blocks(text, (start, text.index("。", text.index("第二段")) + 1), "c:1")
    assert [b.level for b in blocks] == [2, 0, 3, 0]
    assert [[(s.text, s.marked, s.anchor) for s in b.segments] for b in blocks] == [
        [("标题", False, None)],
        [("第一段。\n", False, None), ("续行。", True, "c:1")],
        [("小节", True, None)],
        [("第二段。", True, None)],
    ]
