"""The real app in headless Chromium: ask in place, follow citations to the document, escaping, no JS."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from browsers import CHROMIUM, CHROMIUM_ARGS, open_page
from flask import Flask
from playwright.sync_api import Browser, Page, expect, sync_playwright
from werkzeug.serving import make_server

from qa.config import Settings
from qa.encoders import Embedder
from qa.events.records import FeedbackEvent, parse
from qa.index.build import build_index
from qa.serve.app import create_app
from qa.service import QAService

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed "
                       "(apt-get install chromium); the browser tests drive the system Chromium"),
]

ANSWERABLE = "付款失败但钱被扣了两次怎么办？"
SCRIPT = "<script>alert(1)</script>"

def serve(app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="qa-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url(service: QAService) -> Iterator[str]:
    yield from serve(create_app({"QA_SERVICE": service}))


@pytest.fixture(scope="module")
def hostile_url(hostile_service: QAService) -> Iterator[str]:
    """A server over the hostile corpus (conftest), whose title and text hold markup."""
    yield from serve(create_app({"QA_SERVICE": hostile_service}))


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser, base_url: str) -> Iterator[Page]:
    with open_page(browser, base_url) as page:
        yield page


def ask(page: Page, question: str) -> None:
    page.locator("#q").fill(question)
    page.locator("#q").press("Enter")


def test_ask_follow_citation_then_document(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.evaluate("window.__sameDocument = true")
    page.evaluate("""() => {
        window.__formClasses = [];
        new MutationObserver(() => window.__formClasses.push(document.getElementById('ask-form').className))
            .observe(document.getElementById('ask-form'), {attributes: true});
    }""")
    ask(page, ANSWERABLE)
    cite = page.locator(".answer-text a.cite").first
    expect(cite).to_be_visible()
    assert page.evaluate("window.__sameDocument") is True, "the answer must arrive without a reload"
    assert any("loading" in c for c in page.evaluate("window.__formClasses")), "no loading state was shown"
    expect(page.locator("#ask-button")).to_be_enabled()
    assert parse_qs(urlsplit(page.url).query)["q"] == [ANSWERABLE]
    assert page.locator(".source").count() == 5
    assert page.locator(".source mark").count() > 0

    target = cite.get_attribute("href")
    assert target and re.fullmatch(r"#quote-\d+", target)
    cite.click()
    sentence = page.locator(target)
    expect(sentence).to_be_in_viewport()
    assert page.evaluate("document.querySelector(':target').id") == target[1:]
    assert sentence.inner_text() in page.locator(".answer-text").inner_text()
    card = page.locator(".source", has=sentence)

    card.locator("a.doc-link").click()
    page.wait_for_url(re.compile(r"/doc/"))
    mark = page.locator("mark.passage-mark[id]")
    expect(mark).to_have_count(1)
    expect(mark).to_be_in_viewport()
    expect(mark).to_be_focused()
    assert urlsplit(page.url).fragment.replace("%2F", "/").replace("%3A", ":") == mark.get_attribute("id")


def test_abstention_has_its_own_look(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    ask(page, "Who won the NBA finals last year?")
    notice = page.locator(".answer.unanswered")
    expect(notice).to_contain_text("没有找到答案")
    expect(page.locator(".answer-text")).to_have_count(0)
    expect(page.locator(".sources.closest .source")).to_have_count(5)
    styles = page.evaluate("""() => [".answer.unanswered", ".sources.closest .source"].map(
        (sel) => getComputedStyle(document.querySelector(sel)).borderTopStyle)""")
    assert styles == ["dashed", "solid"]


def test_history_back_restores_the_previous_answer(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    ask(page, ANSWERABLE)
    expect(page.locator(".answer")).to_be_visible()
    first = page.locator(".answer-text").text_content()
    page.locator("a.example", has_text="换了新手机").click()
    page.wait_for_url(re.compile("%E6%8D%A2"))  # 换
    expect(page.locator("#q")).to_have_value("换了新手机要注意什么？")
    page.go_back()
    expect(page.locator("#q")).to_have_value(ANSWERABLE)
    expect(page.locator(".answer-text")).to_have_text(first or "")


def test_script_question_renders_as_text(page: Page, base_url: str) -> None:
    page.goto(base_url + "/")
    ask(page, SCRIPT)
    expect(page.locator(".answer")).to_be_visible()
    expect(page.locator("#q")).to_have_value(SCRIPT)
    assert page.locator("script").count() == 1  # only the page's own app.js
    page.goto(base_url + "/?q=" + SCRIPT)  # the server-rendered path
    expect(page.locator("#q")).to_have_value(SCRIPT)
    assert SCRIPT in page.title()
    assert page.locator("script").count() == 1


def test_corpus_markup_renders_as_text(browser: Browser, hostile_url: str) -> None:
    with open_page(browser, hostile_url) as page:
        page.goto(hostile_url + "/")
        ask(page, "付款失败怎么办")
        expect(page.locator(".source-title").first).to_have_text("<img src=x onerror=alert(1)>退款")
        expect(page.locator(".passage").first).to_contain_text("<script>alert(2)</script>")
        assert page.locator("#results img, #results script").count() == 0


def test_bad_question_shows_the_error_near_the_box(browser: Browser, base_url: str) -> None:
    http_400 = "Failed to load resource: the server responded with a status of 400 (BAD REQUEST)"
    with open_page(browser, base_url, expected_errors=(http_400,)) as page:
        page.goto(base_url + "/")
        ask(page, "问" * 501)
        error = page.locator("#form-error")
        expect(error).to_be_visible()
        expect(error).to_contain_text("500")
        expect(page.locator("#q")).to_have_attribute("aria-invalid", "true")


def test_without_javascript(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, java_script_enabled=False) as page:
        page.goto(base_url + "/?q=" + ANSWERABLE)
        expect(page.locator(".answer-text a.cite").first).to_be_visible()
        expect(page.locator(".source")).to_have_count(5)
        expect(page.locator(".source .quote").first).to_be_visible()
        ask(page, "换了新手机要注意什么？")  # a plain GET form submission
        page.wait_for_url(re.compile("%E6%8D%A2"))
        expect(page.locator(".source").first).to_be_visible()


def test_phone_layout(browser: Browser, base_url: str) -> None:
    with open_page(browser, base_url, viewport={"width": 360, "height": 740}, is_mobile=True) as page:
        page.goto(base_url + "/?q=" + ANSWERABLE)
        expect(page.locator(".answer")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        size = page.evaluate("parseFloat(getComputedStyle(document.getElementById('q')).fontSize)")
        assert size >= 16


def _feedback_for(service: QAService, request_id: str) -> list[FeedbackEvent]:
    directory = service.settings.events_path
    assert directory is not None
    return [event for path in directory.glob("events-*.jsonl") for line in path.read_text("utf-8").splitlines()
            if isinstance(event := parse(line), FeedbackEvent) and event.request_id == request_id]


def test_feedback_under_an_answer_and_an_abstention(page: Page, base_url: str, service: QAService) -> None:
    page.goto(base_url + "/")
    ask(page, ANSWERABLE)
    form = page.locator(".answer form.feedback")
    expect(form.locator("button.feedback-yes")).to_have_text("有帮助")
    request_id = form.locator("input[name=request_id]").input_value()
    form.locator("button.feedback-yes").click()
    expect(page.locator(".answer .feedback-status")).to_contain_text("谢谢")
    assert page.evaluate("window.location.pathname") == "/"  # sent in place, no navigation
    ask(page, "Who won the NBA finals last year?")
    form = page.locator(".answer.unanswered form.feedback")
    abstained_id = form.locator("input[name=request_id]").input_value()
    form.locator("summary").click()
    form.locator("textarea").fill("想知道 NBA 的比赛结果")
    form.locator("button.feedback-no").click()
    expect(page.locator(".answer .feedback-status")).to_contain_text("谢谢")
    assert [(e.helpful, e.comment, e.known_request) for e in _feedback_for(service, request_id)] == [(True, None, True)]
    assert [(e.helpful, e.comment) for e in _feedback_for(service, abstained_id)] == [(False, "想知道 NBA 的比赛结果")]


def test_feedback_without_javascript(browser: Browser, base_url: str, service: QAService) -> None:
    with open_page(browser, base_url, java_script_enabled=False) as page:
        page.goto(base_url + "/?q=" + ANSWERABLE)
        request_id = page.locator("form.feedback input[name=request_id]").input_value()
        page.locator("button.feedback-no").click()  # a plain form POST to /feedback
        page.wait_for_url(re.compile(r"/feedback$"))
        expect(page.locator("h1")).to_have_text("谢谢你的反馈")
    assert [e.helpful for e in _feedback_for(service, request_id)] == [False]


@pytest.fixture(scope="module")
def faq_url(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[str]:
    """A server over an FAQ spreadsheet-like CSV beside nothing else."""
    root = tmp_path_factory.mktemp("faq-page")
    (root / "corpus").mkdir()
    (root / "corpus" / "faq.csv").write_text(
        "问题,答案,相似问题\n"
        "忘记支付密码怎么办,\"在钱包的设置页选择“重置支付密码”。\n验证身份后设置新密码。\",支付密码忘了\n"
        "钱包可以绑定几张银行卡,一个钱包最多可以绑定五张银行卡。,\n"
        "银行卡被冻结了怎么解冻,请携带身份证到开户网点办理解冻。,\n", encoding="utf-8")
    settings = Settings.load(environ={}, corpus_dir=root / "corpus", index_dir=root / "index")
    build_index(settings, embedder=embedder)
    yield from serve(create_app({"QA_SERVICE": QAService.load(settings)}))


def test_an_faq_answer_shows_its_matched_question_and_related_questions(browser: Browser, faq_url: str) -> None:
    with open_page(browser, faq_url) as page:
        page.goto(faq_url + "/")
        ask(page, "支付密码想不起来了怎么办")
        answer = page.locator(".answer.faq-answer")
        expect(answer.locator("h2")).to_have_text("常见问题解答")
        expect(answer.locator(".matched-question")).to_have_text(re.compile("匹配的问题：(忘记支付密码怎么办|支付密码忘了)"))
        # the answer verbatim, its own line break kept on screen
        expect(answer.locator(".answer-text")).to_have_text("在钱包的设置页选择“重置支付密码”。\n验证身份后设置新密码。[1]")
        expect(page.locator(".source").first.locator(".source-kind")).to_have_text("常见问题")
        related = page.locator("a.related-question")
        assert related.count() >= 1
        first = related.first.inner_text()
        related.first.click()
        page.wait_for_url(re.compile(r"[?&]q="))
        assert parse_qs(urlsplit(page.url).query)["q"] == [first]
        expect(page.locator(".matched-question")).to_have_text(f"匹配的问题：{first}")
