"""QAWorker's hold on gunicorn internals: the pinned release is the one installed, and another is refused."""

from __future__ import annotations

import gunicorn
import pytest
from gunicorn.http import parser as gunicorn_parser
from gunicorn.http.message import Request

from qa.errors import QAError
from qa.serve.gthread_worker import GUNICORN_VERSION, _HeadKeepingRequest, check_gunicorn


def test_the_installed_gunicorn_is_the_pinned_release() -> None:
    assert gunicorn.__version__ == GUNICORN_VERSION
    check_gunicorn()


def test_another_gunicorn_release_is_refused_with_the_fix() -> None:
    with pytest.raises(QAError, match=rf"gunicorn 99\.0 is installed; install the pinned release: "
                                      rf"pip install gunicorn=={GUNICORN_VERSION}"):
        check_gunicorn("99.0")


def test_the_internals_the_worker_replaces_still_exist() -> None:
    # what QAWorker.init_process swaps in, and the method its subclass overrides
    assert gunicorn_parser.RequestParser.mesg_class is Request
    assert issubclass(_HeadKeepingRequest, Request) and callable(Request.read_line)
