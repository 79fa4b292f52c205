"""Check an installed `qa` as a deployer meets it: build an index and serve it from a directory outside the repo.

    python tools/check_install.py --qa VENV/bin/qa --corpus corpus --workdir /tmp/elsewhere

Runs `qa index` and `qa serve` (1 worker, a free loopback port) with the working directory set to --workdir, then
requests the page, a static file, an answer and a document page; each must answer 200. Then `qa gaps` reads the
events the server wrote and renders its HTML page (the package's template and fitted threshold). Exits 1 naming what
failed.
`make install-check` runs it against a wheel installed into a fresh virtual environment (not an editable install).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

QUESTION = "付款失败但钱被扣了两次怎么办？"
STARTUP_SECONDS = 180


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--qa", type=Path, required=True, help="the installed `qa` command")
    parser.add_argument("--corpus", type=Path, required=True)
    parser.add_argument("--workdir", type=Path, required=True, help="a directory outside the repository")
    args = parser.parse_args()
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    qa, corpus = str(args.qa.resolve()), str(args.corpus.resolve())
    subprocess.run([qa, "index", "--corpus", corpus, "--index-dir", "index"], cwd=workdir, check=True)
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "serve.log").open("wb")
    server = subprocess.Popen([qa, "serve", "--index-dir", "index", "--port", str(port), "--workers", "1"],
                              cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_ready(server, url)
        failures = _check(url)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
    failures += _check_gaps(qa, workdir)
    for line in failures:
        print(f"FAIL: {line}", file=sys.stderr)
    if failures:
        print((workdir / "serve.log").read_text(encoding="utf-8", errors="replace")[-4000:], file=sys.stderr)
        return 1
    print(f"installed qa served the page, a static file, an answer and a document from {workdir}, and reported "
          "on the events it kept")
    return 0


def _check(url: str) -> list[str]:
    failures = []
    status, body = _get(f"{url}/api/ask", {"question": QUESTION})
    answer = json.loads(body) if status == 200 else {}
    sources = answer.get("sources") or [{}]
    doc_id = sources[0].get("doc_id", "missing")
    for what, target in (("page", f"{url}/?q={urllib.parse.quote(QUESTION)}"),
                         ("static file", f"{url}/static/style.css"), ("answer", f"{url}/api/ask"),
                         ("document page", f"{url}/doc/{urllib.parse.quote(doc_id)}")):
        code = status if what == "answer" else _get(target)[0]
        if code != 200:
            failures.append(f"{what} {target} answered {code}")
    return failures


def _check_gaps(qa: str, workdir: Path) -> list[str]:
    done = subprocess.run([qa, "gaps", "--index-dir", "index", "--json", "--html", "gaps.html"], cwd=workdir,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return [f"qa gaps exited with {done.returncode}: {done.stderr[-2000:]}"]
    questions = json.loads(done.stdout)["totals"]["questions"]
    page = (workdir / "gaps.html").read_text(encoding="utf-8")
    return [] if questions == 2 and "<html" in page else [f"qa gaps read {questions} questions, not the 2 asked"]


def _get(url: str, body: dict[str, str] | None = None) -> tuple[int, str]:
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as response:
            return response.status, response.read().decode("utf-8")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", errors="replace")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_ready(server: subprocess.Popen[bytes], url: str) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"qa serve exited with {server.returncode}")
        try:
            if _get(f"{url}/api/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit(f"qa serve was not ready after {STARTUP_SECONDS} s")


if __name__ == "__main__":
    sys.exit(main())
