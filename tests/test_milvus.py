"""The Milvus backend on a temporary Milvus Lite database: publishing, the reader against the local one, parity."""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from qa import evaluation
from qa.backends.local import LocalReader
from qa.backends.milvus import MilvusBackendError, MilvusReader, Target, current_build_id, publish, rollback
from qa.backends.milvus import client as milvus_client
from qa.backends.milvus.client import KINDS, client, collection_name, lite_engine_major, lite_engine_version
from qa.backends.milvus.fields import TEXT_PART_BYTES
from qa.backends.milvus.publish import _text_parts
from qa.config import Settings
from qa.encoders import Embedder
from qa.errors import IndexMismatchError, QAError
from qa.index import directory
from qa.live import LiveIndex
from qa.service import QAService
from qa.tokens import tokenize

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["付款失败但钱被扣了怎么办？", "錢包裡錢不夠會怎樣", "what is a cold wallet", "忘记密码怎么办",
             "TokenPocket 支持哪些公链"]
# `make test-milvus-lite25` runs this module on Milvus Lite 2.5's C++ engine and says so here, so a run that did
# not get that engine fails instead of testing Lite 3 twice.
EXPECTED_ENGINE = os.environ.get("MILVUS_LITE_ENGINE")


def test_the_milvus_lite_engine_is_the_one_asked_for() -> None:
    version = lite_engine_version()
    print(f"Milvus Lite engine: milvus-lite {version}")
    if EXPECTED_ENGINE:
        assert version.startswith(EXPECTED_ENGINE + "."), (version, EXPECTED_ENGINE)


def _copy_build(source: Path, builds: Path, name: str) -> Path:
    """A copy of a finished build under a new name, so it publishes as a different build."""
    target = builds / name
    shutil.copytree(source, target)
    return target


@pytest.fixture(scope="module")
def published(seed_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Settings, Path]]:
    """The seed build published to a fresh Lite database; yields Milvus settings and the local build it came from."""
    root = tmp_path_factory.mktemp("milvus")
    local = directory.resolve_current(seed_settings.index_dir)
    build = _copy_build(local, root / "builds", "20260101T000000-1-000001")
    settings = Settings.load(environ={}, backend="milvus", milvus_uri=str(root / "milvus.db"),
                             index_dir=root / "unused-index-dir")
    publish(settings, build)
    yield settings, local


@pytest.fixture(scope="module")
def readers(published: tuple[Settings, Path]) -> tuple[MilvusReader, LocalReader]:
    settings, local = published
    return MilvusReader.open(settings), LocalReader(local, directory.read_manifest(local))


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_every_reader_method_matches_the_local_backend(readers: tuple[MilvusReader, LocalReader],
                                                       embedder: Embedder) -> None:
    milvus, local = readers
    assert milvus.n_chunks == local.n_chunks
    all_rows = np.arange(local.n_chunks)
    for question in QUESTIONS:
        vector = embedder.encode_queries([question])[0]
        terms = [*dict.fromkeys(tokenize(question)), "语料里没有的词"]
        remote, here = milvus.question(vector, terms), local.question(vector, terms)
        assert [r for r, _ in remote.dense_search(5)] == [r for r, _ in here.dense_search(5)]
        np.testing.assert_allclose(remote.dense_scores(all_rows), here.dense_scores(all_rows), atol=1e-5)
        assert [r for r, _ in remote.sparse_search(50)] == [r for r, _ in here.sparse_search(50)]
        np.testing.assert_allclose([s for _, s in remote.sparse_search(50)],
                                   [s for _, s in here.sparse_search(50)], rtol=1e-5)
        np.testing.assert_allclose(remote.sparse_scores(all_rows), here.sparse_scores(all_rows),
                                   rtol=1e-5, atol=1e-6)
        assert milvus.document_frequencies(terms).tolist() == local.document_frequencies(terms).tolist()
        assert (remote.term_presence(all_rows) == here.term_presence(all_rows)).all()
        np.testing.assert_allclose(remote.best_sentence_scores(all_rows[::-1]),
                                   here.best_sentence_scores(all_rows[::-1]), atol=1e-5)
        spans, cosines = remote.sentence_scores(3)
        local_spans, local_cosines = here.sentence_scores(3)
        assert spans.tolist() == local_spans.tolist()
        np.testing.assert_allclose(cosines, local_cosines, atol=1e-5)
    rows = [4, 0, 7]
    assert milvus.chunks(rows) == local.chunks(rows)
    doc_ids = sorted({c.doc_id for c in local.chunks(all_rows.tolist())})
    assert milvus.document_info([*doc_ids, "no/such-doc"]) == local.document_info(doc_ids)
    assert all(milvus.document(d) == local.document(d) for d in doc_ids)
    assert milvus.document("no/such-doc") is None


class CountingClient:
    """The real MilvusClient, counting the calls made through it: each is one round trip to Milvus."""

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> object:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def call(*args: object, **kwargs: object) -> object:
            self.calls[name] += 1
            return attr(*args, **kwargs)

        return call


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_a_question_costs_two_round_trips(published: tuple[Settings, Path], embedder: Embedder,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    settings, _ = published
    # a service that does not look for a new build meanwhile (the server does that once a second, not per question)
    service = QAService(LiveIndex(settings, embedder, check_interval=3600), settings)
    target = Target.from_settings(settings)
    counting = CountingClient(client(target))
    monkeypatch.setitem(milvus_client._clients, (os.getpid(), target), counting)
    asks: list[Callable[[str], object]] = [service.ask, lambda q: service.search(q, 5)]
    for question in [*QUESTIONS, "語料裡完全沒有的量子糾纏"]:
        for ask in asks:
            counting.calls.clear()
            assert ask(question)
            # one hybrid chunk search (a plain dense one when no term is known), one search of the sentences
            assert sum(counting.calls.values()) == 2, (question, dict(counting.calls))
            assert set(counting.calls) <= {"hybrid_search", "search"}, (question, dict(counting.calls))


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_seed_dev_quality_is_the_same_as_the_local_backend(published: tuple[Settings, Path],
                                                           service: QAService) -> None:
    settings, _ = published
    milvus_service = QAService.load(settings)
    questions = evaluation.load_questions(ROOT / "eval" / "seed_dev.jsonl")
    local = evaluation.summarize(evaluation.evaluate(questions, service.ask))
    remote = evaluation.summarize(evaluation.evaluate(questions, milvus_service.ask))
    for metric in ("recall@1", "recall@3", "mrr", "answer_hit", "citation_precision"):
        assert abs((remote[metric] or 0) - (local[metric] or 0)) <= 0.01, (metric, local, remote)
    assert milvus_service.health().build_id == current_build_id(settings)


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_publishing_switches_the_served_build_keeps_the_previous_drops_older_ones_and_rolls_back(
        published: tuple[Settings, Path], embedder: Embedder, tmp_path: Path) -> None:
    base, local = published
    settings = Settings.load(environ={}, backend="milvus", milvus_uri=str(tmp_path / "swap.db"),
                             build_grace_seconds=0)
    dirs = [_copy_build(local, tmp_path / "builds", f"20260102T00000{i}-1-000001") for i in range(3)]
    ids = [publish(settings, dirs[0])]
    live = LiveIndex(settings, embedder, check_interval=0.0)
    assert live.get().build_id == ids[0]
    ids.append(publish(settings, dirs[1]))
    deadline = time.monotonic() + 10  # the switch is loaded in a background thread
    while live.get().build_id != ids[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert live.get().build_id == ids[1] == current_build_id(settings)
    assert live.get().retriever.search("付款失败", k=3)
    ids.append(publish(settings, dirs[2]))
    names = set(client(live.current.retriever.index.target).list_collections())  # type: ignore[attr-defined]
    assert {collection_name(ids[0], kind) for kind in KINDS}.isdisjoint(names)  # retired past a 0 s grace
    assert {collection_name(b, kind) for b in ids[1:] for kind in KINDS} <= names  # current and previous kept
    # the local record of each publish: its manifest names the backend and the collections
    manifest = directory.read_manifest(dirs[2])
    assert manifest.backend == "milvus" and manifest.milvus is not None and manifest.milvus.build_id == ids[2]
    with pytest.raises(MilvusBackendError, match="already the published one"):
        publish(settings, dirs[2])
    assert rollback(settings) == ids[1] == current_build_id(settings)  # `qa index --rollback --backend milvus`
    assert rollback(settings) == ids[2] == current_build_id(settings)  # and back (tests/test_rollback.py)
    assert current_build_id(base) != ids[2]  # another database is untouched


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_a_local_server_refuses_a_build_published_to_milvus(published: tuple[Settings, Path],
                                                            tmp_path: Path) -> None:
    _, local = published
    index_dir = tmp_path / "index"
    build = _copy_build(local, index_dir / "builds", "20260103T000000-1-000001")
    directory.swap_in(index_dir, build, grace_seconds=600)
    publish(Settings.load(environ={}, backend="milvus", milvus_uri=str(tmp_path / "other.db")), build)
    with pytest.raises(IndexMismatchError, match="QA_BACKEND=milvus"):
        QAService.load(Settings.load(environ={}, index_dir=index_dir))


def test_milvus_settings_are_checked_with_a_message_that_says_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(QAError, match="QA_MILVUS_URI"):
        MilvusReader.open(Settings.load(environ={}, backend="milvus"))
    with pytest.raises(QAError, match="local or milvus"):
        Settings.load(environ={"QA_BACKEND": "elastic"})
    with pytest.raises(QAError, match="does not exist"):
        MilvusReader.open(Settings.load(environ={}, backend="milvus", milvus_uri=str(tmp_path / "no" / "x.db")))
    with pytest.raises(QAError, match="qa index --backend milvus"):
        QAService.load(Settings.load(environ={}, backend="milvus", milvus_uri=str(tmp_path / "empty.db")))


def test_long_documents_are_split_into_parts_that_fit_a_varchar() -> None:
    text = ("钱包" * 40_000) + "end"
    parts = _text_parts(text)
    assert "".join(parts) == text and len(parts) == 5
    assert all(len(p.encode("utf-8")) <= TEXT_PART_BYTES for p in parts)
    assert _text_parts("") == [""]


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_a_named_database_is_created_by_the_publisher_and_read_by_servers(published: tuple[Settings, Path],
                                                                          tmp_path: Path) -> None:
    _, local = published
    uri = str(tmp_path / "dbs.db")
    if lite_engine_major() < 3:
        with pytest.raises(QAError, match="has no databases: unset QA_MILVUS_DB"):
            MilvusReader.open(Settings.load(environ={"QA_MILVUS_DB": "corpus_b"}, backend="milvus", milvus_uri=uri))
        return
    with pytest.raises(QAError, match="creates database 'corpus_b'"):
        MilvusReader.open(Settings.load(environ={"QA_MILVUS_DB": "corpus_b"}, backend="milvus", milvus_uri=uri))
    settings = Settings.load(environ={"QA_MILVUS_DB": "corpus_b"}, backend="milvus", milvus_uri=uri)
    build_id = publish(settings, _copy_build(local, tmp_path / "builds", "20260104T000000-1-000001"))
    assert MilvusReader.open(settings).build_id == build_id
    with pytest.raises(QAError, match="no build is published"):
        MilvusReader.open(Settings.load(environ={}, backend="milvus", milvus_uri=uri))  # the default database


@pytest.mark.slow  # publishes the seed build into a Milvus Lite database
def test_a_failing_milvus_call_is_a_qa_error_that_names_the_build(published: tuple[Settings, Path],
                                                                  tmp_path: Path) -> None:
    _, local = published
    settings = Settings.load(environ={}, backend="milvus", milvus_uri=str(tmp_path / "gone.db"))
    build_id = publish(settings, _copy_build(local, tmp_path / "builds", "20260105T000000-1-000001"))
    reader = MilvusReader.open(settings)
    assert reader.chunks([0])
    client(reader.target).drop_collection(collection_name(build_id, "chunks"))
    with pytest.raises(MilvusBackendError, match=f"build {build_id} still exists"):  # the API answers 503 with it
        reader.chunks([1])
