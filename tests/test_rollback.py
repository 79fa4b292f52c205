"""`qa index --rollback` means the same on both backends: back to the previous build, and a second rollback
returns to the newer one (the build a rollback replaces becomes the previous one)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from qa import backends
from qa.config import Settings
from qa.errors import QAError
from qa.index import directory
from qa.index.layout import BUILDS


def _publish(settings: Settings, source: Path, name: str) -> str:
    """A copy of a finished build made current as `qa index` does (swapped in, and published to Milvus)."""
    build = settings.index_dir / BUILDS / name
    shutil.copytree(source, build)
    directory.swap_in(settings.index_dir, build, settings.build_grace_seconds)
    return backends.backend(settings).publish(settings, build) or name


@pytest.mark.parametrize("backend", ["local", pytest.param("milvus", marks=pytest.mark.slow)])
def test_rollback_goes_back_to_the_previous_build_and_a_second_one_undoes_it(
        backend: str, seed_settings: Settings, tmp_path: Path) -> None:
    settings = Settings.load(environ={}, index_dir=tmp_path / "index", backend=backend,
                             milvus_uri=str(tmp_path / "milvus.db") if backend == "milvus" else None)
    chosen = backends.backend(settings)
    source = directory.resolve_current(seed_settings.index_dir)
    a = _publish(settings, source, "20260101T000000.000000001-1")
    with pytest.raises(QAError, match="no previous build"):
        chosen.rollback(settings)  # only one build was ever served
    b = _publish(settings, source, "20260101T000001.000000001-1")
    c = _publish(settings, source, "20260101T000002.000000001-1")
    assert chosen.current_build(settings) == c
    assert chosen.rollback(settings) == b == chosen.current_build(settings)
    assert chosen.rollback(settings) == c == chosen.current_build(settings)  # the second rollback undoes the first
    assert chosen.rollback(settings) == b == chosen.current_build(settings)
    assert a not in (chosen.current_build(settings), b, c)
