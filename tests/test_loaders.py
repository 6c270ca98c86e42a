from __future__ import annotations

import json
from pathlib import Path

from ingestion.loaders import Loaded, Reject, TaxonomyFile, load_paths
from tests.conftest import case, write_jsonl


def _split(items):
    items = list(items)
    return [i for i in items if isinstance(i, Loaded)], [i for i in items if isinstance(i, Reject)]


def test_jsonl_good_and_malformed_lines_each_reported(tmp_path: Path) -> None:
    p = tmp_path / "cases.jsonl"
    lines = [
        json.dumps(case("C-1"), ensure_ascii=False),
        "{not json",
        json.dumps({**case("C-2"), "severity": "P9"}, ensure_ascii=False),
        json.dumps({"kind": "case", "id": "C-3"}, ensure_ascii=False),  # no title
        "",
        json.dumps({**case("C-4"), "tags": ["没有斜杠"]}, ensure_ascii=False),
        json.dumps([1, 2]),
        json.dumps({**case("C-5"), "kind": "widget"}),
        json.dumps(case("C-6"), ensure_ascii=False),
        json.dumps(case("C-7"), ensure_ascii=False)[:40],  # cut off
    ]
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    good, bad = _split(load_paths([p]))
    assert [g.record.id for g in good] == ["C-1", "C-6"]
    assert [(r.line, r.field) for r in bad] == [(2, None), (3, "severity"), (4, "title"), (6, "tags"),
                                               (7, "record"), (8, "kind"), (10, None)]
    assert all(r.file == str(p) for r in bad)
    assert "P9" in bad[1].error
    assert bad[-1].error.startswith("invalid JSON: Unterminated string starting at column ")


def test_jsonl_with_bom_and_kind_guessing(tmp_path: Path) -> None:
    p = tmp_path / "mixed.jsonl"
    recs = [
        {k: v for k, v in case("C-1").items() if k != "kind"},
        {"id": "KB-1", "title": "指南", "body": "正文"},
        {"id": "T-1", "subject": "问题", "messages": [{"id": "m1", "role": "customer", "text": "你好"}]},
    ]
    p.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in recs).encode())
    good, bad = _split(load_paths([p]))
    assert not bad
    assert [g.record.kind for g in good] == ["case", "article", "ticket"]


def test_kind_flag_conflict_and_unguessable(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "a.jsonl", [case("C-1"), {"id": "X-1", "title": "什么都没有"}])
    good, bad = _split(load_paths([p], "article"))
    assert not good
    assert bad[0].field == "kind" and "--kind article" in bad[0].error
    assert bad[1].field == "title" or bad[1].field == "body"


def test_ticket_message_errors_name_the_message(tmp_path: Path) -> None:
    p = write_jsonl(tmp_path / "t.jsonl", [
        {"kind": "ticket", "id": "T-1", "subject": "s", "messages": [{"id": "m1", "role": "boss", "text": "x"}]},
        {"kind": "ticket", "id": "T-2", "subject": "s", "messages": []},
    ])
    _, bad = _split(load_paths([p]))
    assert [r.field for r in bad] == ["messages[0].role", "messages"]


def test_wrong_encoding_is_a_clear_reject(tmp_path: Path) -> None:
    p = tmp_path / "gbk.jsonl"
    p.write_bytes(json.dumps(case("C-1"), ensure_ascii=False).encode("gbk") + b"\n")
    good, bad = _split(load_paths([p]))
    assert not good
    assert "not UTF-8" in bad[0].error and "GB18030" in bad[0].error and bad[0].line == 1


def test_faq_csv(tmp_path: Path) -> None:
    p = tmp_path / "faq.csv"
    p.write_text(
        "id,question,answer,tags\n"
        'FAQ-1,发票怎么开？,"在账单页面点击""申请发票""，\n填写抬头。",产品线/计费系统;问题类型/发票\n'
        "FAQ-2,,没有问题的答案,\n"
        "FAQ-3,多出一列,答,产品线/打印机,多余\n"
        "FAQ-4,密码忘了,点忘记密码,\n",
        encoding="utf-8-sig",
    )
    good, bad = _split(load_paths([p]))
    assert [g.record.id for g in good] == ["FAQ-1", "FAQ-4"]
    faq = good[0].record
    assert faq.faq and faq.title == "发票怎么开？" and "申请发票" in faq.body
    assert faq.tags == ["产品线/计费系统", "问题类型/发票"]
    assert [(r.line, r.field) for r in bad] == [(4, "question"), (5, None)]


def test_faq_csv_malformed_quoting_loses_only_the_rows_it_spans(tmp_path: Path) -> None:
    """Read leniently, a quote that is never closed swallows every later row into one field, and the
    file's good rows vanish unreported. Each malformed row is rejected, with the lines it spans."""
    p = tmp_path / "faq.csv"
    p.write_text("id,question,answer\n"
                 'FAQ-1,"未闭合的引号,答案\n'
                 "FAQ-2,好问题,好答案\n"
                 'FAQ-3,"问题"补充,答案\n'
                 'FAQ-4,"两行的\n问题",答案\n'
                 "FAQ-5,,缺问题\n", encoding="utf-8")
    good, bad = _split(load_paths([p]))
    # line 2's quote closes on line 4 ("问题"补充): the row spans lines 2–4 and is skipped whole, and
    # said so; reading on from line 3 could import the tail of a broken row as an FAQ of its own
    assert [g.record.id for g in good] == ["FAQ-4"] and good[0].record.title == "两行的 问题"  # one line
    assert good[0].notes == ("question: line breaks joined into one line",)
    assert [(r.line, r.field) for r in bad] == [(2, None), (7, "question")]
    assert "malformed quoting" in bad[0].error and "lines 2–4 skipped" in bad[0].error
    p.write_text('id,question,answer\nFAQ-1,"未闭合的引号,答案\nFAQ-2,好问题,好答案\n', encoding="utf-8")
    good, bad = _split(load_paths([p]))
    assert [g.record.id for g in good] == ["FAQ-2"] and [r.line for r in bad] == [2]
    assert bad[0].error.startswith("a quote opened on this line is never closed; line 2 skipped")
    # a malformed row over several lines is skipped whole (its last line is no FAQ), and a blank line
    # before a row moves no line number
    p.write_text('id,question,answer\n\nFAQ-1,问题,"第一步：重启\n第二步,检查,网线"x\n\nFAQ-2,好问题,好答案\n'
                 "FAQ-3,,缺问题\n", encoding="utf-8")
    good, bad = _split(load_paths([p]))
    assert [(g.record.id, g.line) for g in good] == [("FAQ-2", 6)]
    assert [(r.line, r.field) for r in bad] == [(3, None), (7, "question")] and "lines 3–4 skipped" in bad[0].error


def test_faq_csv_missing_columns(tmp_path: Path) -> None:
    p = tmp_path / "faq.csv"
    p.write_text("id,q,a\n1,x,y\n", encoding="utf-8")
    good, bad = _split(load_paths([p]))
    assert not good and "missing: question, answer" in bad[0].error
    p.write_text("id,questoin,answer\n1,x,y\n", encoding="utf-8")
    good, bad = _split(load_paths([p]))
    assert not good and bad[0].error.endswith("missing: question; is 'questoin' meant to be 'question'?")


def test_markdown_front_matter(tmp_path: Path) -> None:
    (tmp_path / "kb1.md").write_text(
        "---\nid: KB-1\ntitle: 打印机配网\ntags: [产品线/打印机]\nupdated_at: 2024-05-10\n---\n# 打印机配网\n\n正文内容。\n",
        encoding="utf-8")
    (tmp_path / "kb2.md").write_text("# 没有前言的文章\n\n正文。\n", encoding="utf-8")
    (tmp_path / "kb3.md").write_text("---\nid: [unclosed\n---\nbody\n", encoding="utf-8")
    (tmp_path / "kb4.md").write_text("---\nid: KB-4\n\nno end\n", encoding="utf-8")
    good, bad = _split(load_paths([tmp_path]))
    assert {g.record.id: g.record.title for g in good} == {"KB-1": "打印机配网", "kb2": "没有前言的文章"}
    assert good[0].record.updated_at == "2024-05-10"
    assert {Path(r.file).name for r in bad} == {"kb3.md", "kb4.md"}
    assert all(r.field == "front matter" for r in bad)
    kb3 = next(r for r in bad if r.file.endswith("kb3.md"))  # the YAML fault's line and column in the file
    assert kb3.line == 3 and "(line 3, column 1), while parsing a flow sequence that starts on line 2" in kb3.error


def test_taxonomy_file(tmp_path: Path) -> None:
    good = tmp_path / "taxonomy.yaml"
    good.write_text("dimensions:\n  产品线:\n    values:\n      打印机: {synonyms: [印表机]}\n", encoding="utf-8")
    bad = tmp_path / "bad.yaml"
    bad.write_text("dimensions:\n  产品线:\n    values: [打印机]\n", encoding="utf-8")
    items = list(load_paths([good])) + list(load_paths([bad], "taxonomy"))
    assert isinstance(items[0], TaxonomyFile)
    assert isinstance(items[1], Reject) and items[1].field == "dimensions.产品线"


def test_missing_path_and_unknown_suffix(tmp_path: Path) -> None:
    (tmp_path / "x.xyz").write_text("hi")
    items = list(load_paths([tmp_path / "nope.jsonl", tmp_path / "x.xyz"]))
    assert [i.error.split(";")[0] for i in items] == ["no such file or folder", "unknown file type .xyz"]
