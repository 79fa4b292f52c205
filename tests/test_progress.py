"""Build progress: a bar on a terminal, one line every few seconds elsewhere."""

from __future__ import annotations

import io
import re

from qa.index.progress import Progress


def test_progress_logs_lines_when_not_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(total=10, desc="embedding", stream=stream, interval=0)
    progress.update(4)
    progress.update(6)
    progress.close()
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"embedding: 4/10 \(40%\), [\d.]+/s, ETA .+", lines[0])
    assert lines[-1].startswith("embedding: 10/10 (100%)")
