"""FAQ files of every format read into entries, malformed ones refused naming file and row, and FAQ entries indexed
by the real build and answered through the real server with their own answer, matched question and kind."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import openpyxl
import pytest
from processes import Running, clean_env, qa_serve, request

from qa import faq
from qa.config import Settings
from qa.corpus import iter_corpus, load_corpus
from qa.encoders import Embedder
from qa.errors import CorpusError
from qa.events.records import QuestionEvent, parse
from qa.index import directory
from qa.index.build import build_index
from qa.service import QAService

LONG_ANSWER = "".join(f"第{i}步，按照页面提示完成第{i}项操作。" for i in range(1, 30))


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _xlsx(path: Path, sheets: dict[str, list[list[object]]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    book = openpyxl.Workbook()
    book.remove(book.active)
    for title, rows in sheets.items():
        sheet = book.create_sheet(title)
        for row in rows:
            sheet.append(row)
    book.save(path)
    return path


def _faq_corpus(root: Path) -> Path:
    """One FAQ file of each format, in sub-folders, beside an ordinary article."""
    _write(root / "articles" / "network.md", "---\ntitle: 网络问题\n---\n\n网络信号不稳定会导致支付失败。可以切换到 "
           "Wi-Fi 或 4G 网络后重试。\n")
    _write(root / "faq" / "wallet.csv", "问题,答案,相似问题,id\n"
           "忘记支付密码怎么办,在钱包的设置页选择“重置支付密码”，验证身份后设置新密码。,"
           "支付密码忘了|想不起支付密码,pw-reset\n"
           "钱包可以绑定几张银行卡,一个钱包最多可以绑定五张银行卡。,,\n")
    _write(root / "faq" / "limits.tsv", "question\tanswer\tcategory\n"
           "单笔转账的上限是多少\t单笔转账最多五万元，每日累计不超过二十万元。\t限额\n")
    _xlsx(root / "faq" / "more" / "cards.xlsx", {
        "卡片": [["标准问题", "答复"], ["银行卡被冻结了怎么解冻", "请携带身份证到开户网点办理解冻。"]],
        "账户": [["question", "answer"], ["如何注销钱包账户", LONG_ANSWER]]})
    _write(root / "faq" / "mixed.jsonl",
           json.dumps({"id": "fp", "question": "指纹支付失败怎么办", "alternates": ["指纹付款不好用"],
                       "answer": "请在系统设置里重新录入指纹，再开启指纹支付。"}, ensure_ascii=False) + "\n"
           + json.dumps({"id": "doc-1", "title": "客服", "text": "客服电话是95588，全天服务。"},
                        ensure_ascii=False) + "\n")
    _write(root / "faq" / "help.md", "---\ntype: faq\n---\n# 帮助\n\n## 怎样修改绑定的手机号\n\n"
           "在“我的”页面选择“安全设置”，然后修改手机号。\n\n## 交易记录在哪里看\n\n打开钱包首页，点击“账单”。\n")
    return root


def test_every_format_is_read_with_its_ids_questions_and_answers(tmp_path: Path) -> None:
    notices: list[str] = []
    docs = {d.doc_id: d for d in iter_corpus(_faq_corpus(tmp_path / "corpus"), notices.append)}
    entries = {k: d for k, d in docs.items() if d.kind == "faq"}
    assert set(entries) == {"pw-reset", "faq/wallet/3", "faq/limits/2", "faq/more/cards/卡片/2",
                            "faq/more/cards/账户/2", "fp", "faq/help/1", "faq/help/2"}
    assert docs["articles/network"].kind == "passage" and docs["doc-1"].kind == "passage"
    reset = entries["pw-reset"]
    assert len(faq.question_spans(reset.text)) == 3
    assert reset.text.split("\n")[:3] == ["忘记支付密码怎么办", "支付密码忘了", "想不起支付密码"]
    assert reset.text[faq.answer_start(reset.text):] == "在钱包的设置页选择“重置支付密码”，验证身份后设置新密码。"
    assert entries["faq/limits/2"].title == "限额"  # the category names the card; the question stays in the text
    assert entries["fp"].text.startswith("指纹支付失败怎么办\n指纹付款不好用\n\n")
    assert entries["faq/help/2"].text == "交易记录在哪里看\n\n打开钱包首页，点击“账单”。"
    assert any("cards.xlsx" in n and "all 2 sheets" in n for n in notices)


BAD_FILES = [
    ("no-answer-column.csv", "问题,备用\n什么,没什么\n", "row 1: no answer column"),
    ("extra-column.csv", "问题,答案,备注\n什么,没什么,x\n", "unknown column(s) 备注"),
    ("only-question.csv", "问题\n什么\n", "no answer column"),
    ("neither.csv", "标题,正文\n什么,没什么\n", "names neither a question column"),
    ("empty-question.csv", "问题,答案\n什么,这个\n,没有问题的答案\n", "row 3: empty question"),
    ("empty-answer.tsv", "question\tanswer\n什么\t\n", "row 2: empty answer"),
    ("no-header.csv", "\n\n", "no header row"),
    ("bad-type.md", "---\ntype: faqs\n---\n## 问\n答\n", "type: faqs"),
    ("text-first.md", "---\ntype: faq\n---\n开场白\n## 问\n答\n", "line 4: text before the first"),
    ("no-heading.md", "---\ntype: faq\n---\n只有一段话\n", "line 4: text before the first"),
    ("empty.jsonl", '{"question": "问", "answer": " "}\n', "line 1: empty answer"),
]


@pytest.mark.parametrize(("name", "content", "message"), BAD_FILES, ids=[b[0] for b in BAD_FILES])
def test_malformed_faq_files_fail_naming_file_and_row(tmp_path: Path, name: str, content: str,
                                                       message: str) -> None:
    path = _write(tmp_path / "corpus" / "sub" / name, content)
    with pytest.raises(CorpusError) as caught:
        load_corpus(tmp_path / "corpus")
    assert str(path) in str(caught.value) and message in str(caught.value)


def test_a_duplicated_entry_id_names_both_rows(tmp_path: Path) -> None:
    _write(tmp_path / "corpus" / "a.csv", "id,question,answer\nx,问一,答一\nx,问二,答二\n")
    with pytest.raises(CorpusError, match=r"duplicate doc_id 'x' in .*a.csv row 2 and .*a.csv row 3"):
        load_corpus(tmp_path / "corpus")


def test_an_unreadable_workbook_is_refused(tmp_path: Path) -> None:
    _write(tmp_path / "corpus" / "broken.xlsx", "not a zip")
    # A file that is not what its extension says is skipped, named with why (see qa.corpus.iter_corpus).
    with pytest.raises(CorpusError, match=r"skipped 1: broken\.xlsx \(not a readable Excel \(\.xlsx\) file"):
        load_corpus(tmp_path / "corpus")


@pytest.fixture(scope="module")
def faq_settings(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Settings:
    root = tmp_path_factory.mktemp("faq")
    settings = Settings.load(environ={}, corpus_dir=_faq_corpus(root / "corpus"), index_dir=root / "index")
    build_index(settings, embedder=embedder)
    return settings


@pytest.fixture(scope="module")
def faq_server(faq_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with qa_serve(tmp_path_factory.mktemp("faq-serve"), "--index-dir", str(faq_settings.index_dir), "--workers", "1",
                  workers=1, env=clean_env()) as running:
        yield running


def _ask(server: Running, question: str) -> dict:
    status, _, body = request(f"{server.url}/api/ask", {"question": question})
    assert status == 200, body
    return json.loads(body)


@pytest.mark.slow
def test_a_paraphrase_gets_the_entry_answer_verbatim_with_its_matched_question(faq_server: Running) -> None:
    body = _ask(faq_server, "我的支付密码想不起来了，该怎么办？")
    assert body["answered"]
    assert body["answer"] == "在钱包的设置页选择“重置支付密码”，验证身份后设置新密码。[1]"
    first = body["sources"][0]
    assert first["doc_id"] == "pw-reset" and first["kind"] == "faq"
    assert body["matched_question"] in ("忘记支付密码怎么办", "支付密码忘了", "想不起支付密码")
    assert first["matched_question"] == body["matched_question"] and first["signals"]["question"] > 0.8
    quote = body["quotes"][0]
    assert first["text"][quote["start"]:quote["end"]] + "[1]" == body["answer"]
    faq_sources = [s for s in body["sources"][1:] if s["kind"] == "faq"]
    assert body["related_questions"] == list(dict.fromkeys(s["matched_question"] for s in faq_sources))
    assert all(s["matched_question"] is None for s in body["sources"] if s["kind"] == "passage")


@pytest.mark.slow
def test_question_events_keep_each_source_kind(faq_server: Running, faq_settings: Settings) -> None:
    body = _ask(faq_server, "指纹付款不好用怎么办")
    lines = [line for path in (faq_settings.index_dir.parent / "events").glob("events-*.jsonl")
             for line in path.read_text(encoding="utf-8").splitlines()]
    [event] = [e for e in map(parse, lines) if isinstance(e, QuestionEvent) and e.request_id == body["request_id"]]
    assert [s.kind for s in event.sources] == [s["kind"] for s in body["sources"][:len(event.sources)]]
    assert event.sources[0].kind == "faq"


@pytest.mark.slow
def test_a_long_answer_is_cut_at_a_sentence_end_and_the_rest_is_linked(faq_server: Running) -> None:
    body = _ask(faq_server, "怎么注销我的钱包账户")
    first, quote = body["sources"][0], body["quotes"][0]
    assert first["doc_id"] == "faq/more/cards/账户/2" and body["answered"]
    shown = body["answer"].removesuffix("[1]")
    assert LONG_ANSWER.startswith(shown) and shown.endswith("。") and len(shown) <= 400 < len(LONG_ANSWER)
    assert quote["end"] < len(first["text"])
    status, _, page = request(f"{faq_server.url}/?q={urllib.parse.quote('怎么注销我的钱包账户')}")
    assert status == 200 and "匹配的问题：如何注销钱包账户" in page and "阅读完整答案" in page


@pytest.mark.slow
def test_an_article_question_is_answered_from_the_article_beside_the_faq(faq_server: Running) -> None:
    body = _ask(faq_server, "信号不好会不会导致付款不成功")
    assert body["answered"] and body["sources"][0]["kind"] == "passage" and body["matched_question"] is None


@pytest.mark.slow
def test_a_failed_rebuild_keeps_the_faq_index_serving(faq_settings: Settings, tmp_path: Path,
                                                      embedder: Embedder) -> None:
    before = directory.resolve_current(faq_settings.index_dir)
    broken = Settings.load(environ={}, corpus_dir=_faq_corpus(tmp_path / "corpus"), index_dir=faq_settings.index_dir)
    _write(tmp_path / "corpus" / "faq" / "bad.csv", "问题,答案\n什么,\n")
    with pytest.raises(CorpusError, match=r"bad\.csv row 2: empty answer"):
        build_index(broken, embedder=embedder)
    assert directory.resolve_current(faq_settings.index_dir) == before
    result = QAService.load(faq_settings).ask("指纹付款不好用怎么办")
    assert result.sources[0].doc_id == "fp" and result.answer.startswith("请在系统设置里重新录入指纹")


@pytest.mark.slow  # publishes the FAQ build into a Milvus Lite database
def test_the_milvus_backend_answers_faq_entries_as_the_local_one(faq_settings: Settings, tmp_path: Path) -> None:
    from qa.backends.milvus import publish

    settings = Settings.load(environ={}, backend="milvus", milvus_uri=str(tmp_path / "milvus.db"),
                             index_dir=tmp_path / "unused-index-dir")
    build = tmp_path / "builds" / directory.resolve_current(faq_settings.index_dir).name
    shutil.copytree(directory.resolve_current(faq_settings.index_dir), build)  # publishing marks the build's manifest
    publish(settings, build)
    question = "我的支付密码想不起来了，该怎么办？"
    remote, local = QAService.load(settings).ask(question), QAService.load(faq_settings).ask(question)
    assert remote.answer == local.answer and remote.matched_question == local.matched_question
    assert [(s.doc_id, s.kind, s.matched_question) for s in remote.sources] == \
        [(s.doc_id, s.kind, s.matched_question) for s in local.sources]
    assert remote.sources[0].kind == "faq"
