"""CPU time and memory of a gunicorn master and its workers, read from /proc (for bench_api.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any


def cpu_seconds(master: int) -> float:
    """User + system CPU time of the gunicorn master and its workers so far (a worker's own threads included)."""
    ticks = 0
    for pid in [master, *_children(master)]:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        ticks += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


def memory(master: int) -> list[dict[str, Any]]:
    """VmRSS, and PSS / shared / private from smaps_rollup, for the master and each worker, in MiB."""
    out = []
    for role, pid in [("master", master)] + [("worker", child) for child in sorted(_children(master))]:
        status = _kb_fields(Path(f"/proc/{pid}/status"))
        rollup = _kb_fields(Path(f"/proc/{pid}/smaps_rollup"))
        shared = rollup.get("Shared_Clean", 0) + rollup.get("Shared_Dirty", 0)
        private = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
        out.append({"role": role, "pid": pid, "rss_mib": _mib(status.get("VmRSS", 0)),
                    "pss_mib": _mib(rollup.get("Pss", 0)), "shared_mib": _mib(shared),
                    "private_mib": _mib(private)})
    return out


def _kb_fields(path: Path) -> dict[str, int]:
    fields = {}
    for line in path.read_text().splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB":
            fields[name] = int(parts[0])
    return fields


def _children(pid: int) -> list[int]:
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended while we looked
            continue
        if int(fields[1]) == pid:
            children.append(int(stat.parent.name))
    return children


def _mib(kb: int) -> float:
    return round(kb / 1024, 1)
