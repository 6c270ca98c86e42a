"""Helpdesk exports into tickets: Zendesk and Freshdesk as their APIs document them, a CSV of turns;
detection by content and --format; redaction before storing; internal notes kept with the ticket and
never drafted; bad exports rejected with the file, the place and the reason while the rest imports."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from api.cli import main
from assistant.library import Library
from assistant.review import Review
from ingestion.helpdesk import parse_webhook
from ingestion.pipeline import Ingestor
from tests.helpdesk_payloads import (
    AGENT,
    PHONE,
    REQUESTER,
    SECRET,
    freshdesk_ticket,
    zendesk_comment,
    zendesk_incremental,
    zendesk_ticket,
)


def cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, Any, str]:
    code = main(["ingest", "--home", str(home), "--embedder", "hash", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if "--json" in args else out, err


def case_text(lib: Library, case_id: str) -> str:
    rec = lib.store.get(lib.tenant, case_id)
    assert rec is not None
    return json.dumps({k: rec.data[k] for k in ("title", "problem", "diagnosis", "solution", "outcome")},
                      ensure_ascii=False)


def test_zendesk_incremental_export_maps_roles_notes_and_times(tmp_path: Path, library: Library,
                                                               ingestor: Ingestor) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(zendesk_incremental([zendesk_ticket(35436), zendesk_ticket(35437, status="open")]),
                               ensure_ascii=False, indent=2), encoding="utf-8")  # pretty-printed, one document
    s = ingestor.ingest_paths([path])
    assert s.added == ["ZD-35436", "ZD-35437"] and not s.rejected, s.rejected
    t = library.store.get(library.tenant, "ZD-35436").data  # type: ignore[union-attr]
    assert (t["status"], t["priority"], t["channel"], t["csat"]) == ("solved", "P2", "web", 5)
    roles = [(m["role"], m.get("internal", False)) for m in t["messages"]]
    assert roles == [("customer", False), ("agent", False), ("customer", False), ("agent", True), ("agent", False),
                     ("customer", False)]
    assert t["messages"][0]["at"] == "2026-03-01T09:00:00Z" and t["messages"][4]["author"] == "客服小李"
    stored = json.dumps(t, ensure_ascii=False)
    assert PHONE not in stored and "王建国" not in stored  # redacted before it was stored (the customer's name too)
    assert s.redacted


def test_an_internal_note_is_kept_with_the_ticket_and_never_drafted(tmp_path: Path, library: Library,
                                                                    ingestor: Ingestor) -> None:
    path = tmp_path / "zd.json"
    path.write_text(json.dumps({"tickets": [zendesk_ticket(1)]}, ensure_ascii=False), encoding="utf-8")
    fd = tmp_path / "fd.json"
    fd.write_text(json.dumps([freshdesk_ticket(20)], ensure_ascii=False), encoding="utf-8")
    ingestor.ingest_paths([path, fd])
    review = Review(library, writer=Ingestor)
    for tid in ("ZD-1", "FD-20"):
        d, cid = review.draft(tid)
        assert cid, d.skipped
        assert d.section("solution"), "the public reply is the solution"
        text = case_text(library, cid)
        assert "退款200元" not in text and "不要告诉客户" not in text
        notes = [m for m in library.store.get(library.tenant, tid).data["messages"]  # type: ignore[union-attr]
                 if m.get("internal")]
        assert len(notes) == 1 and "退款200元" in notes[0]["text"]  # the reviewer still sees it with the ticket
        assert all(notes[0]["id"] not in s.sources for s in d.sentences)


def test_the_same_note_made_public_would_be_drafted(library: Library, ingestor: Ingestor) -> None:
    """The test above has teeth: the note's wording is a step the drafter takes when it is public."""
    comments = zendesk_ticket(1)["comments"]
    comments[3]["public"] = True
    ingestor.ingest_records([parse_webhook(zendesk_ticket(2, comments=comments))])
    _, cid = Review(library, writer=Ingestor).draft("ZD-2")
    assert cid and "退款200元" in case_text(library, cid)


def test_freshdesk_status_codes_conversations_and_private_notes(tmp_path: Path, library: Library,
                                                                ingestor: Ingestor) -> None:
    fd = tmp_path / "freshdesk.json"
    fd.write_text(json.dumps([freshdesk_ticket(20), freshdesk_ticket(21, status=2, priority=4, source=7)],
                             ensure_ascii=False), encoding="utf-8")
    s = ingestor.ingest_paths([fd])
    assert s.added == ["FD-20", "FD-21"], s.rejected
    t20 = library.store.get(library.tenant, "FD-20").data  # type: ignore[union-attr]
    t21 = library.store.get(library.tenant, "FD-21").data  # type: ignore[union-attr]
    assert (t20["status"], t20["priority"], t20["channel"]) == ("closed", "P2", "portal")
    assert (t21["status"], t21["priority"], t21["channel"]) == ("open", "P1", "chat")
    assert [(m["role"], m.get("internal", False)) for m in t20["messages"]] == [
        ("customer", False), ("agent", False), ("customer", False), ("agent", True), ("agent", False),
        ("customer", False)]
    assert PHONE not in json.dumps(t20, ensure_ascii=False)


def test_turns_csv(tmp_path: Path, library: Library, ingestor: Ingestor) -> None:
    p = tmp_path / "turns.csv"
    p.write_text("ticket_id,role,text,at,author,internal,subject,status\n"
                 "T-9,customer,发票抬头开错了怎么办,2026-03-03 10:00,张三,,发票抬头错误,closed\n"
                 "T-9,agent,请在订单页面点击申请换开发票，填写正确抬头后提交。,2026-03-03 10:02,客服A,,,\n"
                 f'T-9,note,"{SECRET}",2026-03-03 10:03,客服A,,,\n'
                 "T-9,customer,好的，已经换开了，谢谢,2026-03-03 10:30,张三,,,\n"
                 "T-10,customer,怎么修改密码,,,,,\n"
                 "T-10,agent,请进入设置页面点击修改密码。,,,false,,\n", encoding="utf-8")
    s = ingestor.ingest_paths([p])
    assert s.added == ["T-9", "T-10"] and not s.rejected, s.rejected
    t9 = library.store.get(library.tenant, "T-9").data  # type: ignore[union-attr]
    assert t9["subject"] == "发票抬头错误" and t9["status"] == "closed" and t9["messages"][2]["internal"] is True
    assert t9["messages"][1]["at"] == "2026-03-03 10:02"
    assert library.store.get(library.tenant, "T-10").data["subject"] == "怎么修改密码"  # type: ignore[union-attr]
    _, cid = Review(library, writer=Ingestor).draft("T-9")
    assert cid and "退款200元" not in case_text(library, cid)


def test_detection_by_content_and_by_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ndjson = tmp_path / "tickets.json"  # Zendesk's account export: one ticket (with comments) a line
    ndjson.write_text("".join(json.dumps(zendesk_ticket(i), ensure_ascii=False) + "\n" for i in (1, 2)),
                      encoding="utf-8")
    code, out, _ = cli(capsys, tmp_path / "h", str(ndjson), "--json")
    assert code == 0 and out["added"] == 2
    odd = tmp_path / "odd.json"  # nothing in it says Zendesk: --format does
    odd.write_text(json.dumps({"id": 77, "subject": "打印机卡纸", "status": "solved",
                               "description": "打印机卡纸了怎么办"}, ensure_ascii=False), encoding="utf-8")
    code, out, _ = cli(capsys, tmp_path / "h", str(odd), "--json")
    assert code == 2 and out["added"] == 0
    code, out, _ = cli(capsys, tmp_path / "h", str(odd), "--json", "--format", "zendesk")
    assert code == 0 and out["added"] == 1
    code, out, _ = cli(capsys, tmp_path / "h", str(odd), "--json", "--kind", "article", "--format", "zendesk")
    assert code == 2 and "holds tickets" in out["rejected"][0]["error"]


def test_bad_exports_are_rejected_with_file_place_and_reason(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    no_id = zendesk_ticket(5)
    del no_id["id"]
    no_body = zendesk_ticket(6, comments=[zendesk_comment(1, REQUESTER, "打印机坏了"),
                                          {"id": 2, "author_id": AGENT, "public": True}])
    zd = tmp_path / "zendesk.json"
    zd.write_text(json.dumps({"tickets": [zendesk_ticket(4), no_id, no_body, zendesk_ticket(7, status=None)],
                              "users": []}, ensure_ascii=False), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"tickets": [zendesk_ticket(8)]}, ensure_ascii=False, indent=2)[:-40],
                      encoding="utf-8")
    fd = tmp_path / "fd.json"
    fd.write_text(json.dumps([freshdesk_ticket(40, status="closed"), freshdesk_ticket(41)], ensure_ascii=False),
                  encoding="utf-8")
    header = "ticket_id,role,text\n"
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes((header + "T-1,customer,打印机连不上网\n").encode("gbk"))
    big5 = tmp_path / "big5.csv"
    big5.write_bytes((header + "T-2,customer,印表機無法連線\n").encode("big5"))
    turns = tmp_path / "turns.csv"
    turns.write_text(header + "T-3,customer,打印机卡纸\nT-3,robot,你好\nT-4,agent,\nT-5,customer,怎么退款\n",
                     encoding="utf-8")
    code, out, err = cli(capsys, tmp_path / "h", str(zd), str(broken), str(fd), str(gbk), str(big5), str(turns),
                         "--json")
    assert code == 2
    assert out["added"] == 4  # ZD-4, FD-41, T-3, T-5: the rest went on
    got = {(Path(r["file"]).name, r["line"], r["field"]): r["error"] for r in out["rejected"]}
    assert got[("zendesk.json", None, "ticket #2")] == "id: is required"
    assert got[("zendesk.json", None, "ticket 6")].startswith("comments[1].body: is required")
    assert got[("zendesk.json", None, "ticket 7")] == "status: is required"
    assert got[("fd.json", None, "ticket 40")].startswith("status: must be Freshdesk's status number")
    (line,) = [k[1] for k in got if k[0] == "broken.json"]
    assert line and "invalid JSON" in got[("broken.json", line, None)]
    assert "GBK" in got[("gbk.csv", 2, None)] and "not UTF-8" in got[("gbk.csv", 2, None)]
    assert "Big5" in got[("big5.csv", 2, None)]
    assert "'robot' is not one of" in got[("turns.csv", 3, "role")]
    assert got[("turns.csv", 4, "text")] == "is required"
    assert "rejected: " in err and "zendesk.json: ticket 6: comments[1].body" in err
    rows = {Path(r["file"]).name: r for r in out["files"]}
    assert rows["zendesk.json"]["added"] == 1 and rows["zendesk.json"]["skipped"] == 3


def test_webhook_payload_shapes(library: Library) -> None:
    """What POST /v1/tickets accepts: casepilot's ticket, Zendesk's trigger payload (placeholders
    rendered as text: ids and booleans arrive as strings), Zendesk's API ticket with comments next to
    it, a Freshdesk ticket."""
    trigger = {"ticket": {"id": "35436", "subject": "打印机连不上WiFi", "status": "solved", "priority": "normal",
                          "requester_id": str(REQUESTER), "via": "Web form", "comments": [
                              {"id": "1", "author_id": str(REQUESTER), "author_role": "end-user", "public": "true",
                               "author_name": "王建国", "plain_body": "打印机连不上网", "created_at": "March 1, 2026 09:00"},
                              {"id": "2", "author_id": str(AGENT), "author_role": "agent", "public": "false",
                               "plain_body": SECRET, "created_at": "March 1, 2026 09:05"}]}}
    t = parse_webhook(trigger)
    assert t.id == "ZD-35436" and [(m.role, m.internal) for m in t.messages] == [("customer", False),
                                                                                ("agent", True)]
    assert t.channel == "Web form" and t.priority == "P3"
    api = {"ticket": {k: v for k, v in zendesk_ticket(9).items() if k != "comments"},
           "comments": zendesk_ticket(9)["comments"]}
    assert len(parse_webhook(api).messages) == 6
    assert parse_webhook(freshdesk_ticket(3)).id == "FD-3"
    own = parse_webhook({"id": "T-1", "subject": "x", "messages": [{"role": "customer", "text": "y"}]})
    assert own.id == "T-1" and own.status == "closed"


def test_internal_notes_stay_out_of_the_answer_prompt_and_public_tickets_keep_their_hash() -> None:
    from assistant.answering import ticket_text
    from assistant.records import content_hash, parse_record
    from assistant.store.store import StoredRecord

    data = {"kind": "ticket", "id": "T-1", "subject": "打印机", "messages": [
        {"role": "customer", "text": "打印机坏了"}, {"role": "agent", "text": SECRET, "internal": True}]}
    rec = StoredRecord("default", "T-1", "ticket", "closed", "打印机", "", data, "", 1, False, "", "")
    assert "退款200元" not in ticket_text(rec) and "打印机坏了" in ticket_text(rec)
    public = parse_record({**data, "messages": data["messages"][:1]})
    assert "internal" not in json.dumps(public.to_dict())  # serialised as before internal notes existed
    old_shape = {"id": "T-1", "subject": "打印机", "channel": "", "product": "", "priority": "", "status": "closed",
                 "csat": None, "kind": "ticket",
                 "messages": [{"id": "1", "role": "customer", "text": "打印机坏了", "author": "", "at": ""}]}
    blob = json.dumps(old_shape, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    assert content_hash(public) == hashlib.sha256(blob.encode()).hexdigest()
