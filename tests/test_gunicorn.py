"""`qa serve` configures gunicorn through its documented settings only, within their documented bounds."""

from __future__ import annotations

from gunicorn.config import Config

from qa.config import MAX_QUESTION_LIMIT, MAX_REQUEST_LINE, Settings
from qa.serve.server import gunicorn_options

# gunicorn documents limit_request_line as "a number from 0 (unlimited) to 8190"
GUNICORN_LARGEST_REQUEST_LINE = 8190


def test_every_option_is_a_gunicorn_setting_it_accepts() -> None:
    config = Config()
    options = gunicorn_options(Settings(workers=3, threads=4))
    for name, value in options.items():
        config.set(name, value)  # an unknown name raises AttributeError, an invalid value its validator's error
    assert config.worker_class_str == "gthread"
    assert (config.workers, config.threads) == (3, 4)
    assert config.limit_request_line == MAX_REQUEST_LINE


def test_the_request_line_limit_is_gunicorns_largest_and_fits_every_accepted_question() -> None:
    assert MAX_REQUEST_LINE == GUNICORN_LARGEST_REQUEST_LINE
    # the longest accepted question of 4-byte characters, percent-encoded (12 bytes each), in the longer URL
    line = f"GET /api/search?q={'%F0%9F%98%80' * MAX_QUESTION_LIMIT} HTTP/1.1"
    assert len(line) <= MAX_REQUEST_LINE < len(line) + 12
