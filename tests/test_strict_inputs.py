"""Strict ids and titles, read-only commands, unknown tickets and the last admin key (issue 22 item 7).

Ids that look alike must not be different records: one rule (``assistant.ids.check_id``) refuses
invisible, control and format characters, ``..`` and a leading ``-``, and NFC-normalises, wherever an
id arrives: imports, the CLI and the HTTP API."""

from __future__ import annotations

import io
import json
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import create_key
from api.cli import main
from api.config import ApiSettings
from assistant.errors import InputError
from assistant.ids import check_id, one_line
from tests.conftest import case, write_jsonl
from tests.test_api import Server, is_problem, settings_for

BAD_IDS = {
    "zero-width space": "C-000101\u200b",
    "NUL": "C-0001\x00",
    "right-to-left override": "C-\u202e1010",
    "BOM": "\ufeffC-000101",
    "dot-dot": "C..1",
    "leading dash": "-C1",
    "inner space": "C 1",
    "tab": "C-1\t2",
    "hangul filler": "C-\u3164",
}
DECOMPOSED = "C-Cafe\u0301"  # e + combining acute: NFC makes it C-Café
TICKET = {"kind": "ticket", "id": "T-1", "subject": "打印机连不上WiFi",
          "messages": [{"id": "m1", "role": "customer", "text": "打印机连不上网了"},
                       {"id": "m2", "role": "agent", "text": "请开启路由器的2.4GHz频段。"},
                       {"id": "m3", "role": "customer", "text": "好了，谢谢。"}]}


@pytest.fixture(autouse=True)
def _hash_embedders(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEPILOT_EMBEDDER", "hash")
    monkeypatch.setenv("CASEPILOT_PASSAGE_EMBEDDER", "hash")
    monkeypatch.delenv("CASEPILOT_HOME", raising=False)
    monkeypatch.delenv("CASEPILOT_TENANT", raising=False)


def cli(capsys: pytest.CaptureFixture[str], *argv: str, stdin: str = "") -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr); argparse's own errors exit 2 too."""
    import sys

    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = main(list(argv))
    except SystemExit as e:
        code = int(e.code or 0)
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("strict-src")
    return write_jsonl(d / "lib.jsonl", [
        case("C-1"), case(DECOMPOSED, "咖啡机不出水"),
        case("C-2", "打印机\n连不上\tWiFi"),  # a title with a line break and a tab
        TICKET,
        *[case(rid, f"看起来一样的{name}") for name, rid in BAD_IDS.items()],
    ])


@pytest.fixture
def home(tmp_path: Path, records: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    h = tmp_path / "home"
    code, _, err = cli(capsys, "ingest", str(records), "--home", str(h), "--json")
    assert code == 2, err  # the look-alike ids are rejected; the rest is imported
    return h


# ---- the rule --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(BAD_IDS))
def test_check_id_refuses_look_alikes(name: str) -> None:
    with pytest.raises(InputError):
        check_id(BAD_IDS[name])


def test_check_id_normalises_and_keeps_ordinary_ids() -> None:
    assert check_id(DECOMPOSED) == unicodedata.normalize("NFC", DECOMPOSED) != DECOMPOSED
    for ok in ("C-000101", "T-2024-0301", "KB-打印机-01", "faq:12", "C.1", "C_1-"):
        assert check_id(ok) == ok
    assert check_id("  C-1 ") == "C-1"  # surrounding blanks are not part of an id
    with pytest.raises(InputError, match="the limit is 200"):
        check_id("C" * 201)
    with pytest.raises(InputError, match="empty"):
        check_id("  ")


def test_one_line_joins_line_breaks_and_tabs() -> None:
    assert one_line("打印机\n连不上\tWiFi") == "打印机 连不上 WiFi"
    assert one_line("a \r\n b\u2028c") == "a b c"
    assert one_line("全角\u3000空格") == "全角\u3000空格"


# ---- import ----------------------------------------------------------------------------------------


def test_import_rejects_look_alike_ids_and_normalises(tmp_path: Path, records: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "ingest", str(records), "--home", str(tmp_path / "h"), "--json")
    assert code == 2
    summary = json.loads(out)
    assert summary["added"] == 4
    assert sorted(r["line"] for r in summary["rejected"]) == list(range(5, 5 + len(BAD_IDS)))
    assert {r["field"] for r in summary["rejected"]} == {"id"}
    # the title's line break was joined, and said so
    assert any("C-2" in w and "title" in w and "one line" in w for w in summary["warnings"]), summary["warnings"]
    code, out, _ = cli(capsys, "review", "show", "C-2", "--home", str(tmp_path / "h"), "--json")
    assert code == 0 and json.loads(out)["case"]["title"] == "打印机 连不上 WiFi"


def test_a_decomposed_id_finds_its_composed_record(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "review", "show", DECOMPOSED, "--home", str(home), "--json")
    assert code == 0, err
    assert json.loads(out)["case"]["id"] == unicodedata.normalize("NFC", DECOMPOSED)
    code, out, err = cli(capsys, "search", "咖啡机不出水", "--home", str(home), "--json",
                         "--filter", f"id={DECOMPOSED}")
    assert code == 0 and [r["id"] for r in json.loads(out)["results"]] == [unicodedata.normalize("NFC", DECOMPOSED)]


def test_list_output_never_breaks_on_a_title(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = cli(capsys, "search", "打印机 连不上", "--home", str(home), "-k", "5")
    assert code == 0
    assert "打印机 连不上 WiFi" in out
    assert all(ln.startswith(" ") or ln[:3].strip().rstrip(".").isdigit() for ln in out.splitlines() if ln), out


# ---- ids on the command line -----------------------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ("delete", "C-1\u200b"),
    ("delete", "--", "-C1"),
    ("review", "show", "C-1\u202e"),
    ("review", "edit", "C..1", "title=x"),
    ("ask", "打印机", "--ticket", "T-1\u200b"),
    ("chat", "--ticket", "T-1\x00"),
    ("draft", "--ticket", "T-1\ufeff"),
])
def test_cli_refuses_look_alike_ids_with_exit_2(home: Path, capsys: pytest.CaptureFixture[str],
                                                argv: tuple[str, ...]) -> None:
    cut = argv.index("--") if "--" in argv else len(argv)  # options go before a "--"
    code, out, err = cli(capsys, *argv[:cut], "--home", str(home), *argv[cut:], stdin="打印机连不上\n")
    assert code == 2, (out, err)
    assert "id" in err and "Traceback" not in err
    code, out, _ = cli(capsys, "review", "show", "C-1", "--home", str(home), "--json")
    assert code == 0  # nothing was deleted or edited


def test_an_id_stored_before_the_rule_can_still_be_deleted(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Stored ids are not rewritten; a look-alike imported before the rule is removed by its exact id."""
    from assistant.embeddings import HashEmbedder
    from assistant.library import Library
    from assistant.settings import Settings
    from assistant.types import Case
    from ingestion.pipeline import Ingestor

    legacy = "C-1\u200b"
    lib = Library(Settings(home=home, embedder="hash", passage_embedder="hash"), embedder=HashEmbedder())
    Ingestor(lib).ingest_records([Case(id=legacy, title="旧的重复记录", problem="打印机连不上")])  # not parse_record
    lib.close()
    code, out, err = cli(capsys, "delete", legacy, "--home", str(home), "--json")
    assert code == 0, err
    assert json.loads(out) == {"deleted": [legacy], "unknown": []}
    code, _, err = cli(capsys, "delete", legacy, "--home", str(home))
    assert code == 2 and "invisible" in err  # gone now: the rule speaks again


# ---- read-only commands never create a home --------------------------------------------------------


@pytest.mark.parametrize("argv", [
    ("status",), ("search", "打印机"), ("ask", "打印机连不上"), ("chat", "--ticket", "T-1"), ("gaps",),
    ("review", "list"), ("review", "show", "C-1"), ("tags", "suggest", "打印机"), ("keys", "list"),
    ("feedback", "--list"), ("delete", "C-1"), ("reindex",),
])
def test_reading_a_missing_home_is_an_error_and_creates_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                                argv: tuple[str, ...]) -> None:
    typo = tmp_path / "typo"
    code, out, err = cli(capsys, *argv, "--home", str(typo))
    assert code == 2, (out, err)
    assert str(typo.resolve()) in err and "casepilot ingest" in err
    assert not typo.exists()


def test_writing_commands_still_create_a_home(tmp_path: Path, records: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = cli(capsys, "keys", "create", "--role", "admin", "--home", str(tmp_path / "k"), "--json")
    assert code == 0, err
    assert (tmp_path / "k").is_dir()
    code, _, _ = cli(capsys, "ingest", str(records), "--home", str(tmp_path / "i"))
    assert code == 2 and (tmp_path / "i" / "casepilot.db").exists()


# ---- unknown tickets -------------------------------------------------------------------------------


def test_chat_on_an_unknown_ticket_is_an_error_like_ask(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (("ask", "打印机连不上", "--ticket", "NOPE-1"), ("chat", "--ticket", "NOPE-1")):
        code, out, err = cli(capsys, *argv, "--home", str(home), stdin="打印机连不上\n")
        assert code == 2, (argv, out, err)
        assert "NOPE-1" in err and not out
    code, out, err = cli(capsys, "chat", "--ticket", "T-1", "--home", str(home), "--json", stdin="打印机连不上\n")
    assert code == 0, err
    assert json.loads(out)["id"]


def test_a_free_thread_is_named_as_one(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "chat", "--thread", "wifi-questions", "--home", str(home), "--json",
                         stdin="打印机连不上WiFi怎么办\n/history\n")
    assert code == 0, err
    lines = [json.loads(ln) for ln in out.splitlines()]
    assert lines[0]["id"] and [t["role"] for t in lines[1]["history"]] == ["user", "assistant"]
    # a thread is not a way round the rule, nor a second name for a stored ticket
    for argv, message in ((("--thread", "x\u200b"), "id"), (("--thread", "T-1"), "--ticket T-1"),
                          (("--thread", "a", "--ticket", "T-1"), "not allowed with")):
        code, _, err = cli(capsys, "chat", *argv, "--home", str(home), stdin="")
        assert code == 2 and message in err, err


# ---- the HTTP API ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, records: Path) -> Iterator[dict[str, Any]]:
    d = tmp_path_factory.mktemp("strict-api")
    app = create_app(settings_for(d / "home"), ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    from assistant.library import Library
    from ingestion.pipeline import Ingestor

    Ingestor(Library(st.settings, "A", store=st.store)).ingest_paths([records])
    keys = {r: create_key(st.http, "A", r)["key"] for r in ("agent", "reviewer")}
    with Server(app) as srv:
        yield {"url": srv.url, "keys": keys, "app": app}


def http(api: dict[str, Any], role: str, key: str | None = None) -> httpx.Client:
    return httpx.Client(base_url=api["url"], timeout=60,
                        headers={"Authorization": f"Bearer {key or api['keys'][role]}"})


def test_api_refuses_look_alike_ids_in_bodies_and_paths(api: dict[str, Any]) -> None:
    with http(api, "reviewer") as c:
        for bad in ("T-1\u200b", "T\u202e-1", "-T1", "T..1"):
            is_problem(c.post("/v1/ask", json={"question": "打印机", "ticket_id": bad}), 422, "validation_error")
            is_problem(c.post("/v1/chat", json={"question": "打印机", "ticket_id": bad}), 422, "validation_error")
            is_problem(c.post("/v1/drafts", json={"ticket_id": bad}), 422, "validation_error")
        for bad in ("C-1%E2%80%8B", "C-1%00", "-C1", "C..1"):
            is_problem(c.get(f"/v1/cases/{bad}"), 422, "validation_error")
            is_problem(c.get(f"/v1/review/{bad}"), 422, "validation_error")
        # a decomposed id in a path finds its composed record
        r = c.get(f"/v1/cases/{DECOMPOSED}")
        assert r.status_code == 200, r.text
        assert r.json()["id"] == unicodedata.normalize("NFC", DECOMPOSED)


def test_api_unknown_ticket_is_404_on_every_ticket_route(api: dict[str, Any]) -> None:
    with http(api, "reviewer") as c:
        for path, body in (("/v1/ask", {"question": "打印机", "ticket_id": "NOPE-1"}),
                           ("/v1/chat", {"question": "打印机", "ticket_id": "NOPE-1"}),
                           ("/v1/chat", {"question": "打印机", "ticket_id": "NOPE-1", "stream": True}),
                           ("/v1/drafts", {"ticket_id": "NOPE-1"})):
            assert "NOPE-1" in is_problem(c.post(path, json=body), 404, "not_found")["detail"], path
        ok = c.post("/v1/chat", json={"question": "打印机连不上", "ticket_id": "T-1"})
        assert ok.status_code == 200, ok.text
        thread = c.post("/v1/chat", json={"question": "打印机连不上", "thread_id": "wifi-questions"})
        assert thread.status_code == 200, thread.text
        is_problem(c.post("/v1/chat", json={"question": "打印机", "thread_id": "T-1"}), 400, "invalid_input")
        is_problem(c.post("/v1/chat", json={"question": "打印机"}), 422, "validation_error")


# ---- the last admin key ----------------------------------------------------------------------------


def test_the_last_admin_key_of_a_tenant_cannot_be_revoked(api: dict[str, Any]) -> None:
    st = api["app"].state.casepilot
    first = create_key(st.http, "adm", "admin", "first")
    second = create_key(st.http, "adm", "admin", "second")
    with http(api, "", first["key"]) as c:
        assert c.delete(f"/v1/keys/{second['id']}").status_code == 204
        body = is_problem(c.delete(f"/v1/keys/{first['id']}"), 409, "conflict")
        assert "last active admin key" in body["detail"]
        assert c.get("/v1/keys").status_code == 200  # still usable


def test_cli_keys_revoke_keeps_the_last_admin_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = str(tmp_path / "h")
    ids = []
    for role in ("admin", "agent", "admin"):
        code, out, _ = cli(capsys, "keys", "create", "--role", role, "--home", h, "--tenant", "T", "--json")
        ids.append(json.loads(out)["id"])
    assert cli(capsys, "keys", "revoke", ids[1], "--home", h, "--tenant", "T")[0] == 0
    assert cli(capsys, "keys", "revoke", ids[0], "--home", h, "--tenant", "T")[0] == 0
    code, _, err = cli(capsys, "keys", "revoke", ids[2], "--home", h, "--tenant", "T")
    assert code == 2 and "last active admin key" in err and "keys create --role admin" in err
