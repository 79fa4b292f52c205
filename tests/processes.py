"""Processes tests start and stop themselves on free loopback ports: `qa serve`, Milvus Lite, replicas, nginx.

The general pieces (a free port, start and wait until ready, stop, a request, /proc) are bench/servers.py's, which
the benchmarks use too; pyproject's pytest `pythonpath` puts bench/ on the path. Tests import them from here.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from servers import (
    REQUEST_TIMEOUT,
    ROOT,
    STARTUP_TIMEOUT,
    Reply,
    Running,
    children,
    clean_env,
    free_port,
    listening,
    milvus_server,
    qa_serve,
    request,
    serve_command,
    started,
    stop,
)

__all__ = ["REQUEST_TIMEOUT", "ROOT", "STARTUP_TIMEOUT", "Reply", "Running", "children", "clean_env", "free_port",
           "listening", "milvus_server", "nginx", "qa_serve", "replica", "request", "serve_command", "started",
           "stop"]

NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"


@contextlib.contextmanager
def replica(workdir: Path, name: str, milvus_uri: str, workers: int = 1) -> Iterator[Running]:
    """`qa serve` reading the Milvus at milvus_uri, as one replica behind nginx."""
    with qa_serve(workdir, "--backend", "milvus", "--workers", str(workers), workers=workers, name=name,
                  env=clean_env(QA_MILVUS_URI=milvus_uri)) as server:
        yield server


@contextlib.contextmanager
def nginx(workdir: Path, replicas: list[str]) -> Iterator[Running]:
    """nginx with the repository's config, rendered for these replica addresses, in its own prefix dir."""
    binary = "/usr/sbin/nginx"
    prefix = workdir / "nginx"
    (prefix / "tmp").mkdir(parents=True)
    port = free_port()
    config = NGINX_TEMPLATE.read_text(encoding="utf-8")
    for placeholder, value in {"QA_LB_PORT": str(port), "QA_REPLICA_1": replicas[0],
                               "QA_REPLICA_2": replicas[1]}.items():
        config = config.replace("${" + placeholder + "}", value)
    (prefix / "nginx.conf").write_text(config, encoding="utf-8")
    command = [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", str(prefix / "error.log")]
    url = f"http://127.0.0.1:{port}"
    with started(command, workdir, "nginx", url, lambda _: request(url + "/api/health").status == 200,
                 clean_env()) as server:
        yield server

