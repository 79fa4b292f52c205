"""Micro-batching of query encodes: questions that arrive while an encode runs are encoded together next."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from qa.encoders import Embedder, Progress

# Called after each engine call with (seconds, number of texts); the serving layer feeds its metrics from it.
EncodeObserver = Callable[[float, int], None]


@dataclass
class _Request:
    texts: list[str]
    enqueued: float
    result: np.ndarray | None = None
    error: Exception | None = None
    done: bool = False


class BatchingEmbedder:
    """Wraps any Embedder: concurrent encode_queries calls of one process share one engine call.

    Leader/follower, no background thread: the first caller finding the engine idle encodes its own texts at
    once (a lone question never waits); callers arriving meanwhile queue, and when the engine frees up the
    oldest waiting caller encodes every queued text (up to max_batch) in one call and hands each caller its
    rows. max_wait lets a leader wait that long for company before encoding; 0 means never wait.
    Passage encodes (index builds) go straight through.
    """

    def __init__(self, inner: Embedder, max_batch: int = 16, max_wait: float = 0.0,
                 observer: EncodeObserver | None = None) -> None:
        if max_batch < 1:
            raise ValueError(f"max_batch must be >= 1, got {max_batch}")
        if not 0.0 <= max_wait <= 0.05:
            raise ValueError(f"max_wait must be from 0 to 0.05 s, got {max_wait}")
        self.inner = inner
        self.model_id = inner.model_id
        self.dim = inner.dim
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.observer = observer
        self._reset()
        # A fork copies the queue and a lock possibly held by a thread that does not exist in the child.
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self._cond = threading.Condition()
        self._queue: list[_Request] = []
        self._busy = False

    def encode_passages(self, texts: Sequence[str], batch_size: int = 16,
                        progress: Progress | None = None) -> np.ndarray:
        return self.inner.encode_passages(texts, batch_size, progress)

    def encode_queries(self, texts: Sequence[str]) -> np.ndarray:
        request = _Request(list(texts), time.monotonic())
        if not request.texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        with self._cond:
            self._queue.append(request)
            if self.max_wait:
                self._cond.notify_all()  # a leader waiting for company may now have a full batch
            while not request.done:
                if self._busy:
                    self._cond.wait()
                    continue
                self._busy = True  # this caller leads the next engine call, which may not include its own texts
                self._wait_for_company(request)
                batch = self._take_batch()
                self._cond.release()
                try:
                    self._run(batch)
                finally:
                    self._cond.acquire()
                    for other in batch:  # only if _run itself was interrupted (e.g. SystemExit in this thread)
                        if not other.done:
                            other.error, other.done = RuntimeError("the encode was interrupted; retry"), True
                    self._busy = False
                    self._cond.notify_all()
        return self._result(request)

    def _wait_for_company(self, leader: _Request) -> None:
        """Holding the condition: wait up to max_wait after the leader arrived for the batch to fill."""
        deadline = leader.enqueued + self.max_wait
        while self._queued_texts() < self.max_batch:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            self._cond.wait(remaining)

    def _queued_texts(self) -> int:
        return sum(len(r.texts) for r in self._queue)

    def _take_batch(self) -> list[_Request]:
        """Holding the condition: the oldest requests whose texts fit max_batch (always at least one)."""
        batch: list[_Request] = []
        size = 0
        while self._queue and (not batch or size + len(self._queue[0].texts) <= self.max_batch):
            request = self._queue.pop(0)
            batch.append(request)
            size += len(request.texts)
        return batch

    def _run(self, batch: list[_Request]) -> None:
        texts = [t for request in batch for t in request.texts]
        started = time.perf_counter()
        try:
            vectors = self.inner.encode_queries(texts)
        except Exception as exc:  # each caller of the batch re-raises the engine's failure in its own thread
            for request in batch:
                request.error, request.done = exc, True
            return
        if self.observer is not None:
            self.observer(time.perf_counter() - started, len(texts))
        row = 0
        for request in batch:
            request.result = vectors[row:row + len(request.texts)]
            request.done = True
            row += len(request.texts)

    @staticmethod
    def _result(request: _Request) -> np.ndarray:
        if request.error is not None:
            raise request.error
        assert request.result is not None
        return request.result
