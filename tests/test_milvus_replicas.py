"""Two `qa serve` replicas behind nginx, both reading one Milvus server: load, and a build swap under load."""

from __future__ import annotations

import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from processes import Running, milvus_server, nginx, replica, request

from qa.backends.milvus import current_build_id, publish
from qa.config import Settings
from qa.encoders import Embedder
from qa.index.build import build_index
from qa.index.directory import resolve_current

NGINX = Path("/usr/sbin/nginx")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not NGINX.exists(), reason="/usr/sbin/nginx is not installed (apt-get install "
                                 "nginx, or `make nginx-deps`); the replica test runs Debian's nginx")]

ROOT = Path(__file__).resolve().parent.parent
QUESTIONS = ["工行钱包付不了款一般是啥原因", "錢包裡錢不夠會怎樣", "忘记密码怎么办？", "支付失败了钱会退回来吗",
             "网络不好能付款吗", "付款失败但钱被扣了怎么办？", "什么是冷钱包", "TokenPocket 是什么"]
SWITCH_SECONDS = 5.0  # every replica answers from the new build within this long after the served build changed


class Load:
    """n clients asking through one URL back to back until stopped; counts every non-200 as an error."""

    def __init__(self, url: str, clients: int) -> None:
        self.url, self.ok, self.errors = url, 0, []  # type: ignore[var-annotated]
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, args=(n,)) for n in range(clients)]

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)

    def _loop(self, n: int) -> None:
        i = n
        while not self._stop.is_set():
            status, _, body = request(f"{self.url}/api/ask", {"question": QUESTIONS[i % len(QUESTIONS)]})
            i += 1
            with self._lock:
                if status == 200 and json.loads(body)["sources"]:
                    self.ok += 1
                else:
                    self.errors.append((status, body[:200]))


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> tuple[Path, Path]:
    """Two builds of the seed corpus; the second has one more document, so it is a different build."""
    root = tmp_path_factory.mktemp("replica-builds")
    corpus = root / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    out = []
    for name in ("a", "b"):
        if name == "b":
            (corpus / "extra.md").write_text("---\ntitle: 新增文档\n---\n\n钱包升级后需要重新登录。\n",
                                             encoding="utf-8")
        settings = Settings.load(environ={}, corpus_dir=corpus, index_dir=root / name, cache_dir=root,
                                 backend="milvus")
        build_index(settings, embedder=embedder)
        out.append(resolve_current(settings.index_dir))
    return out[0], out[1]


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory,
               builds: tuple[Path, Path]) -> Iterator[tuple[Settings, list[Running], Running]]:
    workdir = tmp_path_factory.mktemp("replicas")
    with milvus_server(workdir) as milvus:
        settings = Settings.load(environ={}, backend="milvus", milvus_uri=milvus.url, build_grace_seconds=30)
        publish(settings, builds[0])
        with replica(workdir, "replica-1", milvus.url) as one, replica(workdir, "replica-2", milvus.url) as two, \
                nginx(workdir, [one.url.split("//")[1], two.url.split("//")[1]]) as balancer:
            yield settings, [one, two], balancer


def _build_of(server: Running) -> str:
    status, _, body = request(f"{server.url}/api/health")
    assert status == 200, body
    return str(json.loads(body)["build_id"])


def test_eight_clients_through_nginx_then_a_build_swap_under_load(
        deployment: tuple[Settings, list[Running], Running], builds: tuple[Path, Path]) -> None:
    settings, replicas, balancer = deployment
    old = current_build_id(settings)
    assert [_build_of(r) for r in replicas] == [old, old]
    with Load(balancer.url, clients=8) as load:
        time.sleep(5)
        steady = load.ok
        new = publish(settings, builds[1])
        moved = time.monotonic()
        switched: dict[str, float] = {}
        while len(switched) < len(replicas) and time.monotonic() - moved < 30:
            for r in replicas:
                if r.url not in switched and _build_of(r) == new:
                    switched[r.url] = time.monotonic() - moved
            time.sleep(0.2)
        time.sleep(3)  # keep the load on the new build for a while
    assert new != old and current_build_id(settings) == new
    assert steady > 0 and load.ok > steady
    assert load.errors == [], load.errors[:5]
    assert len(switched) == len(replicas), f"replicas still on {old}: {switched}"
    assert max(switched.values()) <= SWITCH_SECONDS, switched
    # both replicas really answered through nginx (round robin), each from its own process
    for r in replicas:
        assert '"POST /api/ask" 200' in r.output()
