"""Headless Debian Chromium for the browser tests (Playwright drives /usr/bin/chromium; it never downloads one)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, Request

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


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
