"""Every worker of one `qa serve`, seen from any of them: each worker writes its build and last refusal to a small
shared directory, so whichever worker answers /api/health?all=1 or /metrics can list them all; memory and CPU of
each live worker come from /proc."""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from qa.live import LiveIndex
from qa.results import Refusal, WorkerHealth

_SUFFIX = ".json"
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def state_of(live: LiveIndex) -> WorkerHealth:
    """This process's build and last refusal."""
    current = live.current
    return WorkerHealth(pid=os.getpid(), build_id=current.build_id, loaded_at=current.loaded_at,
                        last_refusal=live.last_refusal)


def record(directory: Path, live: LiveIndex) -> None:
    """Write this process's state, replacing its file in one rename (a reader never sees half of one)."""
    state = state_of(live)
    tmp = directory / f".{state.pid}.tmp"
    tmp.write_text(json.dumps(dataclasses.asdict(state), ensure_ascii=False), encoding="utf-8")
    os.replace(tmp, directory / f"{state.pid}{_SUFFIX}")


def forget(directory: Path, pid: int) -> None:
    """The master's child_exit hook: a dead worker leaves the list."""
    (directory / f"{pid}{_SUFFIX}").unlink(missing_ok=True)


def live_workers(directory: Path) -> list[WorkerHealth]:
    """The state of every worker that wrote one and is still running, by pid."""
    out = []
    for path in sorted(directory.glob(f"*{_SUFFIX}")):
        if not path.stem.isdigit() or usage(int(path.stem)) is None:
            continue  # not a worker's file, or a worker that died before the master forgot it
        raw = json.loads(path.read_text(encoding="utf-8"))
        refusal = raw["last_refusal"]
        out.append(WorkerHealth(pid=raw["pid"], build_id=raw["build_id"], loaded_at=raw["loaded_at"],
                                last_refusal=Refusal(**refusal) if refusal else None))
    return sorted(out, key=lambda w: w.pid)


@dataclass(frozen=True)
class Usage:
    """What one process costs now: resident memory and CPU time so far (user + system, its threads included)."""

    rss_bytes: int
    cpu_seconds: float


def usage(pid: int) -> Usage | None:
    """From /proc/<pid>/stat; None when there is no such process (or it is a zombie)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    if fields[0] == "Z":
        return None
    # fields[0] is stat's 3rd field (state): utime and stime are its 14th and 15th, rss (pages) its 24th
    return Usage(rss_bytes=int(fields[21]) * _PAGE_BYTES,
                 cpu_seconds=(int(fields[11]) + int(fields[12])) / _CLOCK_TICKS)
