"""`qa serve`: the Flask app under gunicorn; index and model are loaded once in the master, before forking."""

from __future__ import annotations

import errno
import logging
import socket
import sys
import time
from typing import Any

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from qa.config import Settings
from qa.errors import QAError
from qa.service import QAService
from qa.tokens import tokenize

# One line per request: time, client, method, path, status, latency in ms, bytes sent, worker pid.
ACCESS_LOG_FORMAT = '%(t)s %(h)s "%(m)s %(U)s" %(s)s %(M)sms %(b)sB pid=%(p)s'
WARMUP_QUESTION = "付款失败但钱被扣了怎么办？"
THREADS_PER_WORKER = 4


class StderrAccessLogger(Logger):
    """gunicorn's logger, with the access log on stderr next to the error log (its "-" means stdout)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.access_log.handlers:
            if type(handler) is logging.StreamHandler:
                handler.setStream(sys.stderr)
        # The app's own loggers (qa.*) write through the error log too, with its timestamps and pids.
        app_log = logging.getLogger("qa")
        app_log.handlers = list(self.error_log.handlers)
        app_log.setLevel(self.loglevel)
        app_log.propagate = False


class QAServer(BaseApplication):
    """A gunicorn application serving one already loaded QAService."""

    def __init__(self, service: QAService, options: dict[str, Any]) -> None:
        self.service = service
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        self.cfg.set("post_fork", self.warm_up)

    def load(self) -> Any:
        from qa.app import create_app

        return create_app({"QA_SERVICE": self.service})

    def warm_up(self, server: Any, worker: Any) -> None:
        """post_fork hook: the first encode of this worker, so no request pays for it."""
        started = time.perf_counter()
        self.service.ask(WARMUP_QUESTION)
        ms = (time.perf_counter() - started) * 1000
        server.log.info("worker %s warmed up: first ask took %.0f ms", worker.pid, ms)


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 8000, workers: int = 2) -> None:
    """Load the service, then serve it with gunicorn until SIGTERM or SIGINT; raise QAError before binding."""
    if workers < 1:
        raise QAError(f"--workers must be at least 1, got {workers}")
    if not 0 <= port <= 65535:
        raise QAError(f"--port must be from 0 to 65535, got {port}")
    _check_can_listen(host, port)
    # Fork safety: loading maps the weights without starting OpenMP threads. A process that has encoded
    # anything before fork() leaves its children hanging on their first encode, so the master never encodes.
    service = QAService.load(settings)
    tokenize(WARMUP_QUESTION)  # loads jieba's dictionary here, to share it copy-on-write across workers
    QAServer(service, {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        # Encodes are serialised per process by the embedder; threads keep cheap requests (page, health)
        # flowing while one is encoding.
        "worker_class": "gthread",
        "threads": THREADS_PER_WORKER,
        "preload_app": True,  # build the Flask app once in the master, before binding and forking
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-",
        "errorlog": "-",
        "logger_class": StderrAccessLogger,
        "access_log_format": ACCESS_LOG_FORMAT,
        "loglevel": "info",
        "proc_name": "qa-serve",
        # gunicorn's control socket is one path per user ($HOME/.gunicorn): two servers would fight over it.
        "control_socket_disable": True,
    }).run()


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
