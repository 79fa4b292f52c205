"""Micro-batching of query encodes with the real model: same vectors, fewer engine calls, bounded batches."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from qa.encoders import Embedder
from qa.serve.microbatch import BatchingEmbedder

QUESTIONS = ["付款失败怎么办", "钱被扣了两次", "忘记密码怎么办？", "网络不好能付款吗", "What if my payment fails?",
             "工行钱包付不了款", "支付限额是多少", "怎么绑定银行卡", "换了新手机要注意什么", "账户余额不足"]


def _concurrently(batcher: BatchingEmbedder, questions: list[str]) -> list[np.ndarray]:
    """Each question from its own thread, all released together; results in question order."""
    results: list[np.ndarray | None] = [None] * len(questions)
    start = threading.Barrier(len(questions))

    def ask(i: int) -> None:
        start.wait()
        results[i] = batcher.encode_queries([questions[i]])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(len(questions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert all(r is not None for r in results), "a caller never got its vector"
    return [r for r in results if r is not None]


def test_concurrent_questions_share_engine_calls_and_get_their_own_vectors(embedder: Embedder) -> None:
    calls: list[int] = []
    # a 20 ms wait makes the grouping deterministic for the test; serving measures its own default
    batcher = BatchingEmbedder(embedder, max_batch=4, max_wait=0.02, observer=lambda s, n: calls.append(n))
    results = _concurrently(batcher, QUESTIONS)
    expected = embedder.encode_queries(QUESTIONS)
    for question, got, want in zip(QUESTIONS, results, expected, strict=True):
        assert got.shape == (1, embedder.dim)
        assert np.allclose(got[0], want, atol=2e-3), question
    assert sum(calls) == len(QUESTIONS)
    assert max(calls) <= 4
    assert len(calls) < len(QUESTIONS), f"no batching happened: {calls}"


def test_a_lone_question_is_encoded_at_once_and_empty_input_is_empty(embedder: Embedder) -> None:
    calls: list[int] = []
    batcher = BatchingEmbedder(embedder, observer=lambda s, n: calls.append(n))
    one = batcher.encode_queries(["付款失败怎么办"])
    assert np.allclose(one, embedder.encode_queries(["付款失败怎么办"]), atol=2e-3)
    assert batcher.encode_queries([]).shape == (0, embedder.dim)
    several = batcher.encode_queries(QUESTIONS[:3])  # one caller's several texts stay one request
    assert several.shape == (3, embedder.dim)
    assert calls == [1, 3]


def test_passages_go_straight_to_the_wrapped_embedder(embedder: Embedder) -> None:
    calls: list[int] = []
    batcher = BatchingEmbedder(embedder, observer=lambda s, n: calls.append(n))
    vectors = batcher.encode_passages(["支付失败后请先查看交易记录。"])
    assert vectors.shape == (1, embedder.dim) and calls == []
    assert batcher.model_id == embedder.model_id and batcher.dim == embedder.dim


@pytest.mark.parametrize(("max_batch", "max_wait"), [(0, 0.0), (4, -0.001), (4, 1.0)])
def test_rejects_unbounded_settings(embedder: Embedder, max_batch: int, max_wait: float) -> None:
    with pytest.raises(ValueError):
        BatchingEmbedder(embedder, max_batch=max_batch, max_wait=max_wait)
