"""Logs of `qa serve`: gunicorn's access and error logs on stderr, human-readable or one JSON object per line."""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from typing import Any

from gunicorn.glogging import Logger

LOG_FORMATS = ("text", "json")
# One line per request: time, client, method, path, status, latency in ms, bytes sent, worker pid, request id and
# the build that answered (QALogger.atoms adds `pid`: gunicorn's own %(p)s is written "<pid>").
ACCESS_LOG_FORMAT = ('%(t)s %(h)s "%(m)s %(U)s" %(s)s %(M)sms %(b)sB pid=%(pid)s id=%({x-request-id}o)s '
                     'build=%(build)s')
# What the app leaves in the WSGI environ for the access log line (gunicorn logs after the app returned).
ENV_REQUEST_ID = "qa.request_id"
ENV_ANSWERED = "qa.answered"
ENV_ANSWERABILITY = "qa.query.answerability"
ENV_BUILD = "qa.build_id"
ENV_ERROR = "qa.error_code"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: timestamp, level, logger, message and, inside a request, its id."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "pid": record.process,
            "request_id": getattr(record, "request_id", None) or _current_request_id(),
            "message": record.getMessage(),
        }
        entry.update(getattr(record, "fields", {}))
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def _current_request_id() -> str | None:
    from flask import g, has_request_context

    return g.get("request_id") if has_request_context() else None


class QALogger(Logger):
    """gunicorn's logger: access log on stderr beside the error log, the app's `qa.*` loggers through it too."""

    log_format = "text"

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for handler in self.access_log.handlers:
            if type(handler) is logging.StreamHandler:
                handler.setStream(sys.stderr)
        if self.log_format == "json":
            for handler in self.access_log.handlers + self.error_log.handlers:
                handler.setFormatter(JsonFormatter())
        app_log = logging.getLogger("qa")
        app_log.handlers = list(self.error_log.handlers)
        app_log.setLevel(self.loglevel)
        app_log.propagate = False

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> dict[str, Any]:
        atoms: dict[str, Any] = super().atoms(resp, req, environ, request_time)
        atoms.update(pid=os.getpid(), build=environ.get(ENV_BUILD) or "-")
        return atoms

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        if self.log_format != "json":
            super().access(resp, req, environ, request_time)
            return
        status = resp.status.split(None, 1)[0] if isinstance(resp.status, str) else resp.status
        fields = {"method": environ.get("REQUEST_METHOD"), "path": environ.get("PATH_INFO"),
                  "status": int(status), "ms": round(request_time.total_seconds() * 1000, 1),
                  "bytes": getattr(resp, "sent", None), "build_id": environ.get(ENV_BUILD),
                  "answered": environ.get(ENV_ANSWERED), "answerability": environ.get(ENV_ANSWERABILITY),
                  "error": environ.get(ENV_ERROR), "client": environ.get("REMOTE_ADDR")}
        self.access_log.info("access", extra={"request_id": environ.get(ENV_REQUEST_ID), "fields": fields})


def logger_class(log_format: str) -> type[QALogger]:
    """A QALogger writing `log_format` (gunicorn instantiates the class itself, so the choice rides on it)."""
    return type("QALogger_" + log_format, (QALogger,), {"log_format": log_format})
