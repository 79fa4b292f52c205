"""Prometheus metrics: request, encode and answer counts from every worker; index facts, every worker's build,
memory and CPU read at scrape time. With QA_METRICS_PORT, /metrics is answered only on that listener."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, InfoMetricFamily, Metric
from werkzeug.exceptions import NotFound

from qa.live import REFUSAL_REASONS
from qa.results import WorkerHealth
from qa.serve.loaded import app_settings, live_workers, loaded_service
from qa.serve.worker_status import usage
from qa.service import QAService

# prometheus_client picks file-backed values at import time when this is set: `qa serve` sets it first.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_LATENCY_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = Counter("qa_http_requests", "HTTP requests answered by the app, by route, method and status.",
                   ["endpoint", "method", "status"])
REQUEST_SECONDS = Histogram("qa_http_request_duration_seconds", "Time the app spent on a request, by route.",
                            ["endpoint"], buckets=_LATENCY_BUCKETS)
ENCODE_SECONDS = Histogram("qa_encode_duration_seconds",
                           "Query encode engine calls (one call encodes a whole micro-batch).",
                           buckets=_LATENCY_BUCKETS)
ENCODE_BATCH = Histogram("qa_encode_batch_size", "Questions encoded per engine call.",
                         buckets=(1, 2, 3, 4, 6, 8, 12, 16))
ANSWERS = Counter("qa_answers", "Questions asked through /api/ask or the page, answered or abstained.", ["outcome"])
ANSWERABILITY = Histogram("qa_answerability", "Answerability of the questions asked through /api/ask or the page "
                          "(the service abstains below its fitted threshold).",
                          buckets=(0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0))
IN_FLIGHT = Gauge("qa_http_requests_in_flight", "Requests the app is working on now.", multiprocess_mode="livesum")
REFUSED = Counter("qa_build_refused", "Builds a worker would not serve or could not load, by reason "
                  "(mismatch, corrupt, missing, invalid, unreadable).", ["reason"])
for _reason in REFUSAL_REASONS:  # every reason is listed from the start, at 0
    REFUSED.labels(_reason)

metrics = Blueprint("metrics", __name__)


def observe_encode(seconds: float, texts: int) -> None:
    """The micro-batcher's observer: one engine call of `texts` questions took `seconds`."""
    ENCODE_SECONDS.observe(seconds)
    ENCODE_BATCH.observe(texts)


def record_request(endpoint: str, method: str, status: int, seconds: float, answered: bool | None,
                   answerability: float | None) -> None:
    REQUESTS.labels(endpoint, method, str(status)).inc()
    REQUEST_SECONDS.labels(endpoint).observe(seconds)
    if answered is not None:
        ANSWERS.labels("answered" if answered else "abstained").inc()
    if answerability is not None:
        ANSWERABILITY.observe(answerability)


def count_refusal(reason: str) -> None:
    REFUSED.labels(reason).inc()


@metrics.before_app_request
def _own_listener() -> None:
    """With QA_METRICS_PORT, that listener answers /metrics and nothing else, and the public one never /metrics
    (the port a request came in on is its listening socket's, not anything the client sent)."""
    port = app_settings().metrics_port
    if port is not None and (request.environ.get("SERVER_PORT") == str(port)) != (request.path == "/metrics"):
        raise NotFound()


@metrics.get("/metrics")
def scrape() -> Response:
    registry = _registry()
    registry.register(IndexCollector(loaded_service()))
    registry.register(WorkersCollector(live_workers()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """All workers' values (multiprocess mode, as under `qa serve`), else this process's."""
    registry = CollectorRegistry()
    if os.environ.get(MULTIPROC_ENV):
        prometheus_multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessMetrics())
    return registry


class _ProcessMetrics:
    """This process's own request metrics, without the default registry's process and platform collectors."""

    def collect(self) -> Iterator[Metric]:
        for metric in (REQUESTS, REQUEST_SECONDS, ENCODE_SECONDS, ENCODE_BATCH, ANSWERS, ANSWERABILITY, IN_FLIGHT,
                       REFUSED):
            yield from metric.collect()


class WorkersCollector:
    """Each live worker's build, resident memory and CPU time (from /proc), read at scrape time."""

    def __init__(self, workers: list[WorkerHealth]) -> None:
        self.workers = workers

    def collect(self) -> Iterator[Metric]:
        info = GaugeMetricFamily("qa_build_info", "The build each live worker answers from (1 per worker).",
                                 labels=["build_id", "pid"])
        rss = GaugeMetricFamily("qa_worker_resident_memory_bytes", "Resident memory of each live worker.",
                                labels=["pid"])
        cpu = CounterMetricFamily("qa_worker_cpu_seconds", "User and system CPU time of each live worker.",
                                  labels=["pid"])
        for worker in self.workers:
            pid = str(worker.pid)
            info.add_metric([worker.build_id, pid], 1)
            used = usage(worker.pid)
            if used is not None:  # it may have exited since it was listed
                rss.add_metric([pid], used.rss_bytes)
                cpu.add_metric([pid], used.cpu_seconds)
        yield from (info, rss, cpu)


class IndexCollector:
    """The serving index, read from service.health() at scrape time, so a swapped index shows at once."""

    def __init__(self, service: QAService | None) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        loaded = GaugeMetricFamily("qa_index_loaded", "1 when an index is loaded and serving.")
        loaded.add_metric([], 0 if self.service is None else 1)
        yield loaded
        if self.service is None:
            return
        health = self.service.health()
        info = InfoMetricFamily("qa_index", "The serving index build.")
        info.add_metric([], {"build_id": health.build_id, "model": health.model})
        yield info
        built = datetime.fromisoformat(health.index_built_at).timestamp()
        for name, doc, value in (
            ("qa_index_built_timestamp_seconds", "When the serving index was built (Unix time).", built),
            ("qa_index_age_seconds", "Seconds since the serving index was built.", time.time() - built),
            ("qa_index_build_duration_seconds", "How long the serving index's build took.",
             health.build_seconds),
            ("qa_index_documents", "Documents in the serving index.", health.documents),
            ("qa_index_chunks", "Passages (chunks) in the serving index.", health.chunks),
            ("qa_index_size_bytes", "Bytes on disk of the serving index build.", health.index_bytes),
        ):
            if value is None:  # a manifest written before the field existed
                continue
            gauge = GaugeMetricFamily(name, doc)
            gauge.add_metric([], float(value))
            yield gauge
