"""Documents that cannot be imported (made here, on purpose): each is rejected with the file, the place
and the reason, the rest of the import goes on, the exit code is 2, and nothing stored is damaged.
Also made here: a Word document and a plain-text file, to check what the converters keep."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest

from assistant.library import Library
from ingestion.documents import DocumentOptions, load_documents, split_parts
from ingestion.items import Loaded, Reject
from ingestion.pipeline import Ingestor


def _docx(path: Path, title: str = "打印机使用手册") -> Path:
    import docx

    d = docx.Document()
    d.core_properties.title = title
    d.add_heading("安装指南", level=1)
    d.add_heading("无线网络", level=2)
    d.add_paragraph("路由器只开了 5GHz 时，打印机连不上网，操作步骤如下：")
    for step in ("登录路由器后台", "开启 2.4GHz 频段", "在打印机面板重新连接 WiFi"):
        d.add_paragraph(step, style="List Number")
    table = d.add_table(rows=2, cols=2)
    for cell, text in zip(table.rows[0].cells + table.rows[1].cells, ("型号", "频段", "M227", "2.4GHz"), strict=True):
        cell.text = text
    d.save(str(path))
    return path


def _scanned_pdf(path: Path) -> Path:
    from PIL import Image, ImageDraw

    img = Image.new("RGB", (600, 800), "white")
    ImageDraw.Draw(img).rectangle((50, 50, 550, 120), fill="black")  # a page of ink, no text layer
    img.save(path, "PDF")
    return path


def _encrypted_pdf(path: Path) -> Path:
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(width=200, height=200)
    w.encrypt(user_password="secret", owner_password="owner")
    with path.open("wb") as f:
        w.write(f)
    return path


def _zip_bomb(path: Path, unpacked: int) -> Path:
    """A .docx whose document.xml is ``unpacked`` bytes of one repeated byte (a few KB packed)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as f:
            chunk = b"\0" * 1_000_000
            for _ in range(unpacked // len(chunk)):
                f.write(chunk)
    path.write_bytes(buf.getvalue())
    return path


def _load(*paths: Path, **opts: int) -> tuple[list[Loaded], list[Reject]]:
    items = list(load_documents(list(paths), None, DocumentOptions(**opts)))
    return [x for x in items if isinstance(x, Loaded)], [x for x in items if isinstance(x, Reject)]


def _one_reject(path: Path, **opts: int) -> Reject:
    good, bad = _load(path, **opts)
    assert not good and len(bad) == 1, (good, bad)
    assert bad[0].file == str(path)
    return bad[0]


def test_a_word_document_keeps_title_headings_steps_and_table(tmp_path: Path) -> None:
    (good,), _ = _load(_docx(tmp_path / "manual.docx"))
    rec = good.record
    assert (rec.id, rec.title) == ("manual", "打印机使用手册")  # the core properties' title
    body = getattr(rec, "body", "")
    assert "# 安装指南\n\n## 无线网络" in body
    assert "1. 登录路由器后台\n2. 开启 2.4GHz 频段\n3. 在打印机面板重新连接 WiFi" in body
    assert "| 型号 | 频段 |\n| --- | --- |\n| M227 | 2.4GHz |" in body


def test_a_plain_text_file_with_clause_numbers_gets_headings(tmp_path: Path) -> None:
    p = tmp_path / "条款.txt"
    p.write_text("保险条款\n\n第一章 总则\n\n本条款适用于全部产品。\n\n第十條 告知義務\n\n投保人應如實告知。\n", encoding="utf-8")
    (good,), _ = _load(p)
    assert good.record.title == "第一章 总则"  # its first heading (no metadata)
    assert "# 第一章 总则" in getattr(good.record, "body", "") and "### 第十條 告知義務" in getattr(good.record, "body", "")


def test_a_sidecar_overrides_what_the_document_says(tmp_path: Path) -> None:
    doc = _docx(tmp_path / "manual.docx")
    (tmp_path / "manual.docx.meta.yaml").write_text("id: KB-7\ntitle: 安装手册\nproduct: RP-M227\n"
                                                    "tags: [产品线/打印机]\n", encoding="utf-8")
    (good,), _ = _load(doc)
    rec = good.record
    assert (rec.id, rec.title, getattr(rec, "product", ""), getattr(rec, "tags", [])) == (
        "KB-7", "安装手册", "RP-M227", ["产品线/打印机"])


def test_a_scanned_pdf_is_rejected_with_a_hint_to_ocr(tmp_path: Path) -> None:
    r = _one_reject(_scanned_pdf(tmp_path / "scan.pdf"))
    assert "no text layer" in r.error and "OCR" in r.error


def test_an_encrypted_pdf_is_rejected(tmp_path: Path) -> None:
    r = _one_reject(_encrypted_pdf(tmp_path / "locked.pdf"))
    assert "encrypted" in r.error and "password" in r.error


def test_a_truncated_or_corrupt_docx_is_rejected(tmp_path: Path) -> None:
    whole = _docx(tmp_path / "whole.docx").read_bytes()
    cut = tmp_path / "cut.docx"
    cut.write_bytes(whole[: len(whole) // 2])
    assert "truncated or corrupt" in _one_reject(cut).error
    junk = tmp_path / "junk.docx"
    junk.write_bytes(b"this is no zip archive" * 100)
    assert "truncated or corrupt" in _one_reject(junk).error
    flipped = bytearray(whole)  # a member's bytes changed: its checksum no longer matches
    at = whole.index(b"word/document.xml") + 200
    flipped[at : at + 40] = bytes(40)
    bad = tmp_path / "flipped.docx"
    bad.write_bytes(bytes(flipped))
    assert _one_reject(bad).error


def test_a_zip_bomb_disguised_as_docx_is_refused_before_it_is_unpacked(tmp_path: Path) -> None:
    bomb = _zip_bomb(tmp_path / "bomb.docx", 60_000_000)
    assert bomb.stat().st_size < 200_000
    r = _one_reject(bomb, max_unzipped_bytes=50_000_000)
    assert "ZIP bomb" in r.error and "60,000,000" in r.error and r.field == "word/document.xml"


def test_html_with_scripts_and_huge_inline_images_keeps_only_its_text(tmp_path: Path) -> None:
    image = "data:image/png;base64," + "iVBORw0KGgo" * 500_000  # about 5.5 MB inline
    page = tmp_path / "faq.html"
    page.write_text(f"""<html><head><title>常见问题</title><script>var secret = "steal()";</script>
        <style>.x {{ color: red }}</style></head><body><nav>首页 | 产品 | 联系我们</nav>
        <main><h1>打印机常见问题</h1><p>打印机连不上网时，先重启路由器。</p><img src="{image}">
        <script>document.write("广告")</script><h2>卡纸</h2><p>打开后盖取出纸张。</p></main>
        <footer>版权所有 © 2024</footer></body></html>""", encoding="utf-8")
    (good,), _ = _load(page)
    body = getattr(good.record, "body", "")
    assert body == "# 打印机常见问题\n\n打印机连不上网时，先重启路由器。\n\n## 卡纸\n\n打开后盖取出纸张。"


def test_gbk_and_big5_files_are_rejected_with_the_fix_and_a_declared_charset_is_honoured(tmp_path: Path) -> None:
    gbk = tmp_path / "gbk.txt"
    gbk.write_bytes("打印机连不上网，请重启路由器。".encode("gbk"))
    r = _one_reject(gbk)
    assert "not UTF-8" in r.error and "GBK" in r.error and "iconv -f GB18030 -t UTF-8" in r.error
    assert r.field and r.field.startswith("offset ")
    big5 = tmp_path / "big5.txt"
    big5.write_bytes("印表機無法連線，請重新啟動路由器。".encode("big5"))
    assert "Big5" in _one_reject(big5).error
    page = tmp_path / "declared.html"
    page.write_bytes('<html><head><meta charset="gbk"><title>说明</title></head><body><h1>网络设置</h1>'
                     '<p>打印机连不上网，请重启路由器。</p></body></html>'.encode("gbk"))
    (good,), _ = _load(page)
    assert "打印机连不上网，请重启路由器。" in getattr(good.record, "body", "")


def test_a_file_over_the_size_limit_is_rejected_unread(tmp_path: Path) -> None:
    big = tmp_path / "big.txt"
    big.write_text("内容" * 2000, encoding="utf-8")
    r = _one_reject(big, max_bytes=1000)
    assert "limit is 1,000" in r.error and "CASEPILOT_MAX_DOCUMENT_BYTES" in r.error


def test_a_very_long_document_is_stored_in_parts_cut_at_its_headings() -> None:
    body = "\n\n".join(f"<!-- page {n} -->\n\n# 第{n}章\n\n" + "内容。" * 400 for n in range(1, 6))
    parts = split_parts(body, limit=1500)
    assert len(parts) == 5 and all(p.startswith(f"<!-- page {n} -->\n\n# 第{n}章") for n, p in enumerate(parts, 1))
    assert split_parts(body, limit=len(body)) == [body]
    nested = "# 手册\n\n" + "\n\n".join(f"<!-- page {n} -->\n\n## 第{n}节\n\n" + "内容。" * 400 for n in range(1, 4))
    parts = split_parts(nested, limit=1500)  # cut at the second level: each part under "# 手册" again
    assert [p.split("\n\n")[:3] for p in parts[1:]] == [["<!-- page 2 -->", "# 手册", "## 第2节"],
                                                         ["<!-- page 3 -->", "# 手册", "## 第3节"]]


def test_bad_documents_in_one_import_exit_2_and_leave_the_rest_and_the_store_intact(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import main

    monkeypatch.setenv("CASEPILOT_EMBEDDER", "hash")
    monkeypatch.setenv("CASEPILOT_MAX_DOCUMENT_UNZIPPED_BYTES", "50000000")
    home = str(tmp_path / "home")
    docs = tmp_path / "docs"
    docs.mkdir()
    _docx(docs / "manual.docx")
    assert main(["ingest", str(docs), "--product", "RP-M227", "--home", home, "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["added"] == 1 and not first["rejected"]

    whole = (docs / "manual.docx").read_bytes()
    (docs / "manual.docx").write_bytes(whole[:1000])  # the stored article's file, now truncated
    _scanned_pdf(docs / "scan.pdf")
    _encrypted_pdf(docs / "locked.pdf")
    _zip_bomb(docs / "bomb.docx", 60_000_000)
    (docs / "gbk.txt").write_bytes("请重启路由器。".encode("gbk"))
    (docs / "notes.txt").write_text("# 退款规则\n\n年付订阅超过 30 天不退款。\n", encoding="utf-8")
    assert main(["ingest", str(docs), "--home", home, "--json"]) == 2
    out = json.loads(capsys.readouterr().out)
    assert out["added"] == 1  # notes.txt
    rejected = {Path(r["file"]).name: r for r in out["rejected"]}
    assert set(rejected) == {"manual.docx", "scan.pdf", "locked.pdf", "bomb.docx", "gbk.txt"}
    assert all(r["error"] for r in rejected.values())

    from assistant.library import Library as Lib
    from assistant.settings import Settings

    lib = Lib(Settings(home=Path(home), embedder="hash"))
    try:
        stored = lib.store.get(lib.tenant, "manual")
        assert stored is not None and stored.data["product"] == "RP-M227" and "无线网络" in stored.data["body"]
        assert lib.search("打印机 5GHz 连不上网 路由器", k=1)[0].id == "manual"
    finally:
        lib.close()


def test_documents_go_through_the_pipeline_like_other_articles(library: Library, ingestor: Ingestor,
                                                               tmp_path: Path) -> None:
    summary = ingestor.ingest_paths([_docx(tmp_path / "manual.docx")])
    assert summary.added == ["manual"]
    chunks = [c for c in library.store.chunks(library.tenant) if c.section == "body"]
    assert {c.heading for c in chunks} == {"安装指南 > 无线网络"}
    steps = next(c.text for c in chunks if "登录路由器后台" in c.text)
    assert "操作步骤如下：\n\n1. 登录路由器后台\n2. 开启 2.4GHz 频段\n3. 在打印机面板重新连接 WiFi" in steps


def test_a_sidecar_in_a_folder_is_read_with_its_document_not_imported_by_itself(tmp_path: Path) -> None:
    from ingestion.loaders import load_paths

    _docx(tmp_path / "manual.docx")
    (tmp_path / "manual.docx.meta.yaml").write_text("id: KB-7\nproduct: RP-M227\n", encoding="utf-8")
    items = list(load_paths([tmp_path], None, documents=DocumentOptions(product="其他")))
    assert [(type(x).__name__, getattr(getattr(x, "record", None), "id", None)) for x in items] == [("Loaded", "KB-7")]
    assert isinstance(items[0], Loaded) and items[0].record.product == "RP-M227"  # the sidecar wins over --product


def test_a_paragraph_on_most_pages_of_a_site_folder_is_dropped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    for n, topic in enumerate(("打印机连不上网", "卡纸", "墨盒", "驱动安装", "扫描")):
        (site / f"topic{n}").mkdir(parents=True)
        (site / f"topic{n}" / "index.html").write_text(
            f"<html><body><h1>{topic}</h1><p>关于{topic}的说明：请先重启设备，再检查连接。</p>"
            "<div class='legal'>© 2024 速达科技 版权所有，未经许可不得转载。</div></body></html>", encoding="utf-8")
    good, bad = _load(*sorted(site.rglob("*.html")))
    assert not bad
    for item in good:
        assert "版权所有" not in getattr(item.record, "body", "") and "请先重启设备" in getattr(item.record, "body", "")
    ids = [x.record.id for x in load_documents(sorted(site.rglob("*.html")), roots=[site]) if isinstance(x, Loaded)]
    assert ids == [f"topic{n}-index" for n in range(5)]  # index.html in each folder: ids from the path
