"""Processes tests start and stop themselves on free loopback ports: Milvus Lite, `qa serve` replicas, nginx."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NGINX_TEMPLATE = ROOT / "deploy" / "nginx.conf.template"
STARTUP_TIMEOUT = 90.0
REQUEST_TIMEOUT = 30.0


@dataclass
class Process:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    return {**env, **extra}


def request(url: str, body: dict[str, Any] | None = None) -> tuple[int, str]:
    """(status, body) of a GET, or of a JSON POST when body is given; status 0 when the connection failed."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=REQUEST_TIMEOUT) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8")
    except OSError as exc:
        return 0, repr(exc)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def started(command: list[str], workdir: Path, name: str, url: str, ready_path: str | None,
            env: dict[str, str]) -> Iterator[Process]:
    """Run command until the block ends; ready when its port accepts (and ready_path answers 200, if given)."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=workdir, env=env)
    running = Process(url, process, log)
    try:
        _wait(running, ready_path)
        yield running
    finally:
        stop(process)


def _wait(running: Process, ready_path: str | None) -> None:
    host, port = running.url.split("//")[1].split(":")
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise AssertionError(f"{running.process.args} exited with {running.process.returncode}:\n"
                                 f"{running.output()}")
        with socket.socket() as sock:
            listening = sock.connect_ex((host, int(port))) == 0
        if listening and (ready_path is None or request(running.url + ready_path)[0] == 200):
            return
        time.sleep(0.3)
    raise AssertionError(f"{running.process.args} not ready after {STARTUP_TIMEOUT:.0f} s:\n{running.output()}")


@contextlib.contextmanager
def milvus_server(workdir: Path) -> Iterator[Process]:
    """`milvus-lite server` on a free loopback port (never its default of every interface)."""
    port = free_port()
    command = [sys.executable, "-m", "milvus_lite", "server", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(workdir / "milvus-data")]
    with started(command, workdir, "milvus", f"http://127.0.0.1:{port}", None, clean_env()) as server:
        yield server


@contextlib.contextmanager
def replica(workdir: Path, name: str, milvus_uri: str, workers: int = 1) -> Iterator[Process]:
    port = free_port()
    command = [sys.executable, "-m", "qa.cli", "serve", "--backend", "milvus", "--host", "127.0.0.1",
               "--port", str(port), "--workers", str(workers)]
    env = clean_env(QA_MILVUS_URI=milvus_uri)
    with started(command, workdir, name, f"http://127.0.0.1:{port}", "/api/health", env) as server:
        yield server


@contextlib.contextmanager
def nginx(workdir: Path, replicas: list[str]) -> Iterator[Process]:
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
    with started(command, workdir, "nginx", f"http://127.0.0.1:{port}", "/api/health", clean_env()) as server:
        yield server
