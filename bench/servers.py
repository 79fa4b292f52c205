"""Servers that benchmarks and tests start on free loopback ports: start, wait until ready, stop; CPU and memory.

Benchmarks import this as `servers` (their own directory is on the path); the test suite reaches it through
`pythonpath` in pyproject's pytest section, so both start, wait for and stop servers in one way.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
# One policy for every server: the model loads, then each worker warms up with one ask; on 2 shared, loaded cores
# that has taken over a minute. A process that exits fails at once, whatever the timeout.
STARTUP_TIMEOUT = 120.0
REQUEST_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
WARMED = re.compile(r"worker (\d+) warmed up")


@dataclass
class Running:
    """A started process: where it answers, the process, and the file that holds its stdout and stderr."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def warmed_workers(self) -> set[str]:
        """Pids of the `qa serve` workers that have logged their warm-up ask."""
        return set(WARMED.findall(self.output()))


class Reply(NamedTuple):
    status: int  # 0 when the connection failed
    content_type: str
    text: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def listening(url: str) -> bool:
    host, port = url.split("//")[1].split(":")
    with socket.socket() as sock:
        return sock.connect_ex((host, int(port))) == 0


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without QA_* settings (a server sees only what its caller gives it), qa importable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("QA_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in [str(ROOT), env.get("PYTHONPATH", "")] if p)
    return {**env, **extra}


def request(url: str, body: dict[str, Any] | None = None, timeout: float = REQUEST_TIMEOUT) -> Reply:
    """A GET, or a JSON POST when body is given; an HTTP error status is a reply, a failed connection status 0."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Reply(response.status, response.headers["Content-Type"], response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers["Content-Type"], exc.read().decode("utf-8"))
    except OSError as exc:
        return Reply(0, "", repr(exc))


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL after STOP_TIMEOUT."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def started(command: list[str], workdir: Path, name: str, url: str, ready: Callable[[Running], bool],
            env: dict[str, str], cwd: Path | None = None) -> Iterator[Running]:
    """Run command (output to workdir/name.log) until the block ends, once its port accepts and ready() holds."""
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=cwd or workdir, env=env)
    running = Running(url, process, log)
    try:
        _wait(running, ready)
        yield running
    finally:
        stop(process)


def _wait(running: Running, ready: Callable[[Running], bool]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline:
        if running.process.poll() is not None:
            raise RuntimeError(f"{running.process.args} exited with {running.process.returncode}:\n"
                               f"{running.output()}")
        if listening(running.url) and ready(running):
            return
        time.sleep(0.3)
    raise RuntimeError(f"{running.process.args} not ready after {STARTUP_TIMEOUT:.0f} s:\n{running.output()}")


def serve_command(port: int, *flags: str) -> list[str]:
    return [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port), *flags]


@contextlib.contextmanager
def qa_serve(workdir: Path, *flags: str, workers: int, env: dict[str, str], name: str = "serve",
             cwd: Path | None = None) -> Iterator[Running]:
    """`qa serve` with these flags on a free loopback port, ready once health answers and every worker is warm."""
    port = free_port()

    def ready(running: Running) -> bool:
        return len(running.warmed_workers()) >= workers and request(f"{running.url}/api/health").status == 200

    with started(serve_command(port, *flags), workdir, name, f"http://127.0.0.1:{port}", ready, env, cwd) as server:
        yield server


@contextlib.contextmanager
def milvus_server(workdir: Path) -> Iterator[Running]:
    """`milvus-lite server` on a free loopback port (never its default of every interface)."""
    port = free_port()
    command = [sys.executable, "-m", "milvus_lite", "server", "--host", "127.0.0.1", "--port", str(port),
               "--data-dir", str(workdir / "milvus-data")]
    with started(command, workdir, "milvus", f"http://127.0.0.1:{port}", lambda _: True, clean_env()) as server:
        yield server


# --- what a server costs, from /proc ------------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    """Pids whose parent is pid (a gunicorn master's workers)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def cpu_seconds(master: int) -> float:
    """User + system CPU time of the gunicorn master and its workers so far (a worker's own threads included)."""
    ticks = 0
    for pid in [master, *children(master)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def memory(master: int) -> list[dict[str, Any]]:
    """VmRSS, and PSS / shared / private from smaps_rollup, for the master and each worker, in MiB."""
    out = []
    for role, pid in [("master", master)] + [("worker", child) for child in sorted(children(master))]:
        status = kb_fields(Path(f"/proc/{pid}/status"))
        rollup = kb_fields(Path(f"/proc/{pid}/smaps_rollup"))
        shared = rollup.get("Shared_Clean", 0) + rollup.get("Shared_Dirty", 0)
        private = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
        out.append({"role": role, "pid": pid, "rss_mib": mib(status.get("VmRSS", 0)),
                    "pss_mib": mib(rollup.get("Pss", 0)), "shared_mib": mib(shared), "private_mib": mib(private)})
    return out


def kb_fields(path: Path) -> dict[str, int]:
    """The `Name: N kB` lines of a /proc file such as status or smaps_rollup."""
    fields = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def mib(kb: int) -> float:
    return round(kb / 1024, 1)
