"""Build progress that is visible everywhere: a bar on a terminal, a log line every few seconds elsewhere."""

from __future__ import annotations

import sys
import time
from typing import TextIO

from tqdm import tqdm

LOG_INTERVAL_SECONDS = 5.0


def duration(seconds: float) -> str:
    """3 s, 4 min 05 s, 2 h 07 min."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Counts done of total; `update(n)` is cheap, output is rate-limited."""

    def __init__(self, total: int, desc: str, stream: TextIO | None = None,
                 interval: float = LOG_INTERVAL_SECONDS) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.stream = stream or sys.stderr
        self.interval = interval
        self._started = self._last = time.monotonic()
        self._bar = tqdm(total=total, desc=desc, unit="text", file=self.stream, leave=False) \
            if self.stream.isatty() else None

    def update(self, n: int) -> None:
        self.done += n
        if self._bar is not None:
            self._bar.update(n)
            return
        now = time.monotonic()
        if now - self._last >= self.interval or self.done >= self.total:
            self._last = now
            print(self.line(now), file=self.stream, flush=True)

    def line(self, now: float | None = None) -> str:
        elapsed = (now or time.monotonic()) - self._started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        share = f"{100 * self.done / self.total:.0f}%" if self.total else "100%"
        eta = duration((self.total - self.done) / rate) if rate > 0 else "unknown"
        return f"{self.desc}: {self.done}/{self.total} ({share}), {rate:.1f}/s, ETA {eta}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
