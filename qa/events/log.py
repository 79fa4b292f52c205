"""EventLog: each process appends its own events file, one os.write per line, a new file each (UTC) day.

No locks between processes: the file name holds the host and pid (`events-<host>-<pid>-<date>.jsonl`), so gunicorn
workers, replicas and restarts never share a file, and the report reads any number of them. Within a process one
lock covers the file switch and the write (a thread must not write to a descriptor another one just closed).
"""

from __future__ import annotations

import logging
import mmap
import os
import re
import socket
import threading
import time
from collections import OrderedDict
from datetime import UTC, datetime, timedelta
from pathlib import Path

from qa.errors import QAError
from qa.events.records import Event, QuestionEvent, parse_time, question_prefix

logger = logging.getLogger(__name__)

FILE_GLOB = "events-*.jsonl"
FILE_NAME = re.compile(r"events-(?P<host>.+)-(?P<pid>\d+)-(?P<date>\d{4}-\d{2}-\d{2})\.jsonl")
RECENT_IDS = 50_000  # request ids of this process's own recent questions, answered by knows() without a scan
ERROR_LOG_SECONDS = 60.0  # a failing disk is logged at most this often, not once per request


def host_name() -> str:
    """This machine's name as it goes into file names (anything but letters, digits, '.', '_', '-' becomes '_')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", socket.gethostname()) or "host"


def file_name(host: str, pid: int, day: str) -> str:
    return f"events-{host}-{pid}-{day}.jsonl"


class EventLog:
    """Appends events under one directory; opens its file lazily, so a forked worker writes its own."""

    def __init__(self, directory: Path, host: str | None = None) -> None:
        self.directory = Path(directory)
        self.host = host or host_name()
        _check_writable(self.directory)
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._opened: tuple[int, str] | None = None  # (pid, date) of the open descriptor
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._error_logged = 0.0

    def write(self, event: Event) -> bool:
        """Append one event line; False (and an error logged, at most once a minute) when the disk refuses."""
        line = (event.to_json() + "\n").encode("utf-8")
        day = parse_time(event.time).astimezone(UTC).date().isoformat()
        try:
            with self._lock:
                fd = self._descriptor(day)
                _write_all(fd, line)
                if isinstance(event, QuestionEvent):
                    self._remember(event.request_id)
        except OSError as exc:
            self._log_failure(exc)
            return False
        return True

    def knows(self, request_id: str, now: datetime | None = None) -> bool:
        """Whether a question event with this request id was written here today or yesterday (UTC), by this
        process or any other writing to the directory."""
        with self._lock:
            if request_id in self._recent:
                return True
        today = (now or datetime.now(UTC)).astimezone(UTC).date()
        days = {today.isoformat(), (today - timedelta(days=1)).isoformat()}
        needle = question_prefix(request_id)
        for path in self.directory.glob(FILE_GLOB):
            match = FILE_NAME.fullmatch(path.name)
            if match and match["date"] in days and _contains(path, needle):
                return True
        return False

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
            self._fd, self._opened = None, None

    def _descriptor(self, day: str) -> int:
        key = (os.getpid(), day)
        if self._fd is None or self._opened != key:
            # a new day, or a forked child (its copy of the parent's descriptor is closed, its own file opened)
            if self._fd is not None:
                os.close(self._fd)
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / file_name(self.host, key[0], day)
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o640)
            self._opened = key
        return self._fd

    def _remember(self, request_id: str) -> None:
        self._recent[request_id] = None
        self._recent.move_to_end(request_id)
        if len(self._recent) > RECENT_IDS:
            self._recent.popitem(last=False)

    def _log_failure(self, exc: OSError) -> None:
        now = time.monotonic()
        if now - self._error_logged >= ERROR_LOG_SECONDS:
            self._error_logged = now
            logger.error("could not write an event to %s (%s); questions are answered but not kept until this "
                         "is fixed (free space or permissions, or QA_EVENTS_DIR=off)", self.directory, exc)


def _write_all(fd: int, data: bytes) -> None:
    # One write() per line: with O_APPEND a regular file takes it whole. A short write happens only when the disk
    # fills up mid-line; the rest follows so the line is not left cut.
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _contains(path: Path, needle: bytes) -> bool:
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return False
            with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as view:
                return view.find(needle) >= 0
    except FileNotFoundError:  # removed by a clean-up between the listing and the read
        return False


def _check_writable(directory: Path) -> None:
    """Fail at start, with the fix, rather than at the first question."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise QAError(f"cannot create the events directory {directory} ({exc.strerror}); set QA_EVENTS_DIR / "
                      "--events-dir to a writable directory, or QA_EVENTS_DIR=off to keep no events") from None
    if not os.access(directory, os.W_OK | os.X_OK):
        raise QAError(f"the events directory {directory} is not writable; fix its permissions, set QA_EVENTS_DIR "
                      "/ --events-dir elsewhere, or QA_EVENTS_DIR=off to keep no events")
