"""The real app in headless Chromium: ask in place, follow citations to the document, escaping, no JS."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request, expect, sync_playwright
from werkzeug.serving import make_server

from qa.serve.app import create_app
from qa.service import QAService

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
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


@contextmanager
def open_page(browser: Browser, base: str, expected_errors: tuple[str, ...] = (),
              **context_options: object) -> Iterator[Page]:
    """A fresh page failing the test on a dialog, script error, unexpected console error, foreign request."""
    context = browser.new_context(**context_options)  # type: ignore[arg-type]
    page = context.new_page()
    problems: list[str] = []

    def on_dialog(dialog: Dialog) -> None:
        problems.append(f"dialog: {dialog.message}")
        dialog.dismiss()

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and message.text not in expected_errors:
            problems.append(f"console: {message.text}")

    def on_request(request: Request) -> None:
        if not request.url.startswith((base, "data:")):
            problems.append(f"request: {request.url}")

    page.on("dialog", on_dialog)
    page.on("console", on_console)
    page.on("request", on_request)
    page.on("pageerror", lambda error: problems.append(f"script error: {error}"))
    try:
        yield page
    finally:
        context.close()
    assert not problems


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
