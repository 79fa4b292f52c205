"""gunicorn's threaded worker, answering a request line too long to parse with the app's own 414."""

from __future__ import annotations

from typing import Any

import gunicorn
from gunicorn import util
from gunicorn.http import parser as gunicorn_parser
from gunicorn.http.errors import LimitRequestLine
from gunicorn.http.message import Request
from gunicorn.workers.gthread import ThreadWorker

from qa.errors import QAError

# Enough of the request line to tell an /api/ path from a page, and to name the method.
_HEAD_BYTES = 512
# QAWorker replaces RequestParser.mesg_class and relies on Request.read_line filling its buffer in place: internals
# of this gunicorn release, pinned in pyproject.toml. Another release must be checked (tests/test_worker.py) first.
GUNICORN_VERSION = "27.0.1"


def check_gunicorn(version: str = gunicorn.__version__) -> None:
    """Refuse to serve on a gunicorn whose internals QAWorker was not written against."""
    if version != GUNICORN_VERSION:
        raise QAError(f"qa's server worker builds on gunicorn {GUNICORN_VERSION}'s request parser, but gunicorn "
                      f"{version} is installed; install the pinned release: pip install gunicorn=={GUNICORN_VERSION}")


class _HeadKeepingRequest(Request):
    """A gunicorn request that, when its request line is over the limit, keeps its start on the exception."""

    def read_line(self, unreader: Any, buf: bytearray, limit: int = 0) -> Any:
        try:
            return super().read_line(unreader, buf, limit)
        except LimitRequestLine as exc:
            exc.head = bytes(buf[:_HEAD_BYTES])  # read_line fills buf (a bytearray in gunicorn 27) in place
            raise


class QAWorker(ThreadWorker):
    """gthread; a too-long request line gets the app's 414 (JSON under /api/, the Chinese page elsewhere)."""

    def init_process(self) -> None:
        check_gunicorn()
        # Only in this worker process: gunicorn builds every request of a connection from this class.
        gunicorn_parser.RequestParser.mesg_class = _HeadKeepingRequest
        super().init_process()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        head = getattr(exc, "head", None)
        if not isinstance(exc, LimitRequestLine) or head is None:
            super().handle_error(req, client, addr, exc)
            return
        self.log.warning("request line over %s bytes from %s: answered 414", self.cfg.limit_request_line,
                         addr[0] if addr else "?")
        method, _, rest = head.decode("latin-1").partition(" ")
        path = rest.split("?", 1)[0].split(" ", 1)[0]
        if not (path.startswith("/") and path.isascii() and path.isprintable()):
            path = "/"
        if not (method.isascii() and method.isalpha()):
            method = "GET"
        try:
            util.write_nonblock(client, _render_414(self.wsgi, method, path, self.cfg.limit_request_line))
        except OSError:
            self.log.debug("could not send the 414 to %s", addr)


def _render_414(app: Any, method: str, path: str, limit: int) -> bytes:
    """The app's 414 for `path` as raw HTTP/1.1 bytes; the connection is closed after it."""
    response = app_414(app, method, path, limit)
    body = response.get_data()
    headers = [(k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "connection")]
    lines = ["HTTP/1.1 414 URI Too Long", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}",
             "Connection: close", "", ""]
    return "\r\n".join(lines).encode("latin-1") + body


def app_414(app: Any, method: str, path: str, limit: int) -> Any:
    """The Flask app's own 414 response for a request to `path` whose request line was over `limit` bytes."""
    from qa.serve.app import error_page_or_json
    from qa.serve.loaded import app_settings

    with app.test_request_context(path, method=method):
        message = (f"the request line is longer than {limit} bytes; send long questions with POST /api/ask"
                   if path.startswith("/api/") else
                   f"网址太长了：问题最多 {app_settings().max_question_chars} 个字。请缩短问题后重新提问。")
        return app.process_response(app.make_response(error_page_or_json(414, message)))
