"""`qa serve`: the Flask app under gunicorn; index and model are loaded once in the master, before forking."""

from __future__ import annotations

import errno
import os
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication

from qa.config import MAX_REQUEST_LINE, Settings
from qa.errors import QAError
from qa.live import LiveIndex
from qa.results import Refusal
from qa.serve import worker_status
from qa.serve.loaded import WORKERS_DIR
from qa.serve.logs import ACCESS_LOG_FORMAT, logger_class
from qa.serve.microbatch import BatchingEmbedder
from qa.service import QAService
from qa.tokens import tokenize

WARMUP_QUESTION = "付款失败但钱被扣了怎么办？"


class QAServer(BaseApplication):
    """A gunicorn application serving one already loaded QAService."""

    def __init__(self, service: QAService, options: dict[str, Any], workers_dir: Path) -> None:
        self.service = service
        self.options = options
        self.workers_dir = workers_dir
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", self.start_worker)
        self.cfg.set("child_exit", self.child_exit)

    def load(self) -> Any:
        from qa.serve.app import create_app

        return create_app({"QA_SERVICE": self.service, WORKERS_DIR: str(self.workers_dir)})

    def start_worker(self, server: Any, worker: Any) -> None:
        """post_fork hook: record this worker's build, follow the current build from a background thread (idle
        workers switch too), then warm up with the first encode, so no request pays for it."""
        from qa.serve.metrics import count_refusal

        def changed(live: LiveIndex, refusal: Refusal | None) -> None:
            worker_status.record(self.workers_dir, live)
            if refusal is not None:
                count_refusal(refusal.reason)

        live = self.service.live
        live.on_change = changed
        worker_status.record(self.workers_dir, live)
        live.watch()
        started = time.perf_counter()
        self.service.ask(WARMUP_QUESTION)
        ms = (time.perf_counter() - started) * 1000
        server.log.info("worker %s warmed up: first ask took %.0f ms", worker.pid, ms)

    def child_exit(self, server: Any, worker: Any) -> None:
        """Master hook: a dead worker's live gauges and its build leave the metrics and /api/health?all=1."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
        worker_status.forget(self.workers_dir, worker.pid)


def serve(settings: Settings) -> None:
    """Load the service, then serve it with gunicorn until SIGTERM or SIGINT; raise QAError before binding."""
    for host, port in _listeners(settings):
        _check_can_listen(host, port)
    # Split the cores between the workers before the engine loads (libgomp reads this once); an explicit
    # OMP_NUM_THREADS from the environment wins.
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // settings.workers)))
    runtime = _runtime_dir()
    try:
        _run(settings, runtime / "workers")
    finally:
        shutil.rmtree(runtime, ignore_errors=True)


def _listeners(settings: Settings) -> list[tuple[str, int]]:
    """The public address, and /metrics's own when QA_METRICS_PORT is set."""
    found = [(settings.host, settings.port)]
    if settings.metrics_port is not None:
        found.append((settings.metrics_host, settings.metrics_port))
    return found


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _run(settings: Settings, workers_dir: Path) -> None:
    from qa.serve.metrics import observe_encode

    # Fork safety: loading maps the weights without starting OpenMP threads. A process that has encoded
    # anything before fork() leaves its children hanging on their first encode, so the master never encodes.
    # Every build the service swaps in shares the one micro-batcher around the model.
    service = QAService.load(settings, wrap=lambda embedder: BatchingEmbedder(
        embedder, max_batch=settings.batch_max, max_wait=settings.batch_wait_ms / 1000, observer=observe_encode))
    tokenize(WARMUP_QUESTION)  # loads jieba's dictionary here, to share it copy-on-write across workers
    QAServer(service, gunicorn_options(settings), workers_dir).run()


def gunicorn_options(settings: Settings) -> dict[str, Any]:
    """The gunicorn settings `qa serve` runs with: documented settings only (post_fork and child_exit are set by
    QAServer), so any gunicorn release in the range pyproject.toml allows serves the same."""
    return {
        "bind": [_bind(host, port) for host, port in _listeners(settings)],
        "workers": settings.workers,
        # Threads hand concurrent questions to the micro-batcher and keep cheap requests (page, health,
        # metrics) flowing while an encode runs.
        "worker_class": "gthread",
        "threads": settings.threads,
        "preload_app": True,  # build the Flask app once in the master, before binding and forking
        "timeout": 60,
        "graceful_timeout": 10,
        # every accepted question fits (qa.config); a longer line gets gunicorn's own 414 page, never the app
        "limit_request_line": MAX_REQUEST_LINE,
        "accesslog": "-",
        "errorlog": "-",
        "logger_class": logger_class(settings.log_format),
        "access_log_format": ACCESS_LOG_FORMAT,
        "loglevel": "info",
        "proc_name": "qa-serve",
        # gunicorn's control socket is one path per user ($HOME/.gunicorn): two servers would fight over it.
        "control_socket_disable": True,
    }


def _runtime_dir() -> Path:
    """A fresh directory shared by the master and its workers: prometheus_client's multiprocess files (set before
    prometheus_client is imported) and each worker's build (qa.serve.worker_status)."""
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before `qa serve` chose its multiprocess directory")
    path = Path(tempfile.mkdtemp(prefix="qa-serve-"))
    (path / "metrics").mkdir()
    (path / "workers").mkdir()
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path / "metrics")
    return path


def _check_can_listen(host: str, port: int) -> None:
    """Fail in one line before the model loads, not after gunicorn's five bind retries and their log lines."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.create_server((host, port), family=family):  # SO_REUSEADDR, as gunicorn binds
            pass
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise QAError(f"cannot listen on {host}:{port}: the port is in use; stop the server using it "
                          "or choose another --port") from None
        raise QAError(f"cannot listen on {host}:{port} ({exc}); check --host and --port") from None
