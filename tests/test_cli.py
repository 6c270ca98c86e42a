"""The command-line contract: names, --json shapes, exit codes, stdout holding only JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_run import Ran, run_cli
from tests.conftest import case, write_jsonl


def run(home: Path, *args: str, stdin: str | None = None) -> Ran:
    return run_cli(*args, env={"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash"}, stdin=stdin)


def run_process(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The same command in its own process (``python -m api.cli``), for the process contract."""
    env = {**os.environ, "CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash"}
    return subprocess.run([sys.executable, "-m", "api.cli", *args], env=env, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli")
    src = write_jsonl(d / "cases.jsonl", [
        case("C-1"), case("C-2", "账单重复扣费", tags=["产品线/计费系统"], product="云账通"),
        case("C-3", "打印机报错E-1024", problem="打印机面板显示E-1024，无法打印。"),
    ])
    r = run(d / "home", "ingest", str(src), "--json")
    assert r.returncode == 0, r.stderr
    assert set(json.loads(r.stdout)) >= {"added", "updated", "unchanged", "removed", "rejected"}
    return d / "home"


def test_ingest_json_shape_and_rejects_exit_2(tmp_path: Path, home: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(case("C-1"), ensure_ascii=False) + "\n{oops\n", encoding="utf-8")
    r = run_process(home, "ingest", str(bad), "--json")  # the exit code and stdout of a real process
    assert r.returncode == 2
    out = json.loads(r.stdout)  # stdout is only JSON
    assert out["unchanged"] == 1 and out["added"] == 0
    assert out["rejected"] == [{"file": str(bad), "line": 2, "field": None,
                                "error": "invalid JSON: Expecting property name enclosed in double quotes (column 2)"}]
    assert "rejected:" in r.stderr


def test_ingest_summary_of_tickets_and_of_an_unchanged_file(tmp_path: Path) -> None:
    tickets = write_jsonl(tmp_path / "tickets.jsonl", [{"kind": "ticket", "id": "T-1", "subject": "打印机卡纸",
                                                        "messages": [{"role": "customer", "text": "卡纸了"}]}])
    first = run(tmp_path / "h", "ingest", str(tickets))
    assert first.returncode == 0 and "1 added" in first.stdout and "nothing changed" not in first.stdout
    assert "search index unchanged" in first.stdout
    again = run(tmp_path / "h", "ingest", str(tickets))
    assert again.returncode == 0 and "1 unchanged" in again.stdout and "nothing changed" in again.stdout


def test_search_json_shape(home: Path) -> None:
    r = run(home, "search", "E-1024", "--json", "-k", "2")
    assert r.returncode == 0, r.stderr
    results = json.loads(r.stdout)["results"]
    assert results[0]["id"] == "C-3"
    assert set(results[0]) == {"id", "kind", "title", "score", "section", "snippet", "heading"}


def test_search_filter_and_explain(home: Path) -> None:
    r = run(home, "search", "打印机", "--filter", "product=云账通", "--json", "--explain")
    results = json.loads(r.stdout)["results"]
    assert [x["id"] for x in results] == ["C-2"]
    assert "ranks" in results[0]["explain"]
    r = run(home, "search", "打印机", "--explain")
    assert r.returncode == 0 and "why: keyword #" in r.stdout and "question #" in r.stdout
    r = run(home, "search", "账单", "--filter", "product=账通")
    assert r.returncode == 0 and "no results" in r.stdout
    assert "no case or article has the product '账通' (a product filter matches the whole name); did you mean " \
           "'云账通'?" in r.stderr


def test_search_batch(tmp_path: Path, home: Path) -> None:
    q = tmp_path / "q.txt"
    q.write_text("账单扣费\n\n印表機報錯E-1024\n", encoding="utf-8")
    r = run(home, "search", "--batch", str(q), "--json", "-k", "1")
    lines = [json.loads(x) for x in r.stdout.splitlines()]
    assert [(x["query"], x["results"][0]["id"]) for x in lines] == [("账单扣费", "C-2"), ("印表機報錯E-1024", "C-3")]


@pytest.mark.parametrize(("args", "message"), [
    (("search", "x", "--filter", "colour=red"), "unknown filter key 'colour'"),
    (("search", "x", "--filter", "nonsense"), "is not KEY=VALUE"),
    (("search", "x", "--filter", "kind=faq"), "unknown kind 'faq' in filter 'kind=faq'; use one of: case, article "
                                              "(an FAQ is an article)"),
    (("search", "x", "--filter", "status=done"), "unknown status 'done'"),
    (("search", "x", "-k", "0"), "-k must be between 1 and 100"),
    (("search", "--batch", "/nonexistent", "--json"), "no such file"),
    (("delete", "C-404"), "casepilot: error: no record 'C-404' in tenant 'default'"),
    (("ingest", "/nonexistent.jsonl"), "no such file or folder"),
    (("search", "x", "--embedder", "word2vec"), "unknown embedder 'word2vec'"),
])
def test_bad_input_gives_one_clear_line(home: Path, args: tuple[str, ...], message: str) -> None:
    r = run(home, *args)
    assert r.returncode == 2 or (args[-1] == "word2vec" and r.returncode == 1)
    assert message in r.stderr
    assert "Traceback" not in r.stderr


def test_delete_then_gone(tmp_path: Path) -> None:
    h = tmp_path / "h"
    run(h, "ingest", str(write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "打印机卡纸")])))
    r = run(h, "delete", "C-2", "--json")
    assert r.returncode == 0 and json.loads(r.stdout) == {"deleted": ["C-2"], "unknown": []}
    ids = [x["id"] for x in json.loads(run(h, "search", "打印机", "--json").stdout)["results"]]
    assert ids == ["C-1"]


def test_help_lists_the_commands() -> None:
    r = subprocess.run([sys.executable, "-m", "api.cli", "--help"], capture_output=True, text=True)
    assert r.returncode == 0
    for cmd in ("ingest", "delete", "search", "reindex", "status", "eval"):  # eval: through the entry point
        assert cmd in r.stdout
    script = Path(sys.executable).with_name("casepilot")  # the installed console script, where there is one
    if script.exists():
        s = subprocess.run([str(script), "--help"], capture_output=True, text=True)
        assert s.returncode == 0 and s.stdout == r.stdout
    r = subprocess.run([sys.executable, "-m", "api.cli", "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("casepilot 0.")
    # serve acts in every tenant and prints no JSON: it offers neither option
    r = run_cli("serve", "--help")
    assert r.returncode == 0 and "--workers" in r.stdout and "--home" in r.stdout
    assert "--tenant" not in r.stdout and "--json" not in r.stdout


def test_status_reads_as_a_summary_and_json_keeps_its_shape(home: Path) -> None:
    r = run(home, "status")
    assert r.returncode == 0, r.stderr
    assert "cases" in r.stdout and "3 approved" in r.stdout and "indexes   generation" in r.stdout
    assert "in sync" in r.stdout and "{" not in r.stdout  # no raw dicts
    info = json.loads(run(home, "status", "--json").stdout)
    assert info["records"]["case"]["approved"] == 3 and info["synced_generation"] == info["generation"]


def test_an_empty_home_says_how_to_fill_it_and_reindex_does_not_warn(tmp_path: Path) -> None:
    r = run(tmp_path / "empty", "status")  # no home yet: named, and not created (tests/test_strict_inputs.py)
    assert r.returncode == 2 and "no casepilot library at" in r.stderr and not (tmp_path / "empty").exists()
    (tmp_path / "nothing.jsonl").write_text("\n", encoding="utf-8")
    r = run(tmp_path / "empty", "ingest", str(tmp_path / "nothing.jsonl"))
    assert r.returncode == 0 and "warning: the files hold no records" in r.stdout
    r = run(tmp_path / "empty", "status")
    assert r.returncode == 0 and "empty: import records with casepilot ingest" in r.stdout
    assert "in sync" in r.stdout and "behind" not in r.stdout
    r = run(tmp_path / "empty", "search", "打印机")  # a mistyped --home: say so, not just "no results"
    assert r.returncode == 0 and "holds no cases or articles; import some with casepilot ingest" in r.stderr
    run(tmp_path / "h", "ingest", str(write_jsonl(tmp_path / "a.jsonl", [case("C-1")])))
    r = run(tmp_path / "h", "search", "没有这个词")
    assert r.returncode == 0 and "holds no" not in r.stderr
    r = run(tmp_path / "h", "reindex")
    assert r.returncode == 0 and "behind the store" not in r.stderr, r.stderr  # a rebuild asked for



def test_an_invalid_setting_is_named_in_one_line_and_nothing_runs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A bad ``CASEPILOT_*`` value (or flag) is refused with its variable and the rule it breaks, exit 2,
    before anything opens the home; ``serve`` checks its own variables before starting workers."""
    from api.cli import main

    home = tmp_path / "home"
    monkeypatch.setenv("CASEPILOT_HOME", str(home))  # serve sets it from --home; restored after the test

    def refused(*argv: str) -> str:
        assert main([*argv, "--home", str(home)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("casepilot: error: invalid setting: ") and "\n" not in err, err
        return err.removeprefix("casepilot: error: invalid setting: ")

    monkeypatch.setenv("CASEPILOT_EXACT_SEARCH_LIMIT", "-1")
    assert refused("search", "打印机") == "CASEPILOT_EXACT_SEARCH_LIMIT='-1': Input should be greater than or equal to 0"
    monkeypatch.delenv("CASEPILOT_EXACT_SEARCH_LIMIT")
    assert refused("status", "--tenant", "a/b") == "--tenant='a/b': tenant must be 1-64 characters without slashes"
    monkeypatch.setenv("CASEPILOT_API_RATE_BURST", "0")
    assert refused("serve", "--port", "1").startswith("CASEPILOT_API_RATE_BURST='0':")
    assert not home.exists()


def test_a_reader_that_leaves_early_gets_no_traceback(tmp_path: Path) -> None:
    """``casepilot review stale | head``: the closed pipe ends the command quietly (exit 141, as a
    process killed by SIGPIPE), not with a BrokenPipeError traceback."""
    code = ("import sys\n"
            "from api import cli\n"
            "from api.cli import indexes\n"
            "def flood(args):\n"
            "    for i in range(200_000):\n"
            "        print('line', i)\n"
            "    return 0\n"
            "indexes.cmd_status = flood\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    p = subprocess.Popen([sys.executable, "-c", code, "status", "--home", str(tmp_path / "h")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout is not None and p.stderr is not None
    assert p.stdout.readline().startswith(b"line 0")
    p.stdout.close()
    err = p.stderr.read().decode()
    assert p.wait(timeout=60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_broken_pipe_elsewhere_is_not_taken_for_a_reader_that_left(tmp_path: Path) -> None:
    """Only stdout's reader leaving is quiet: a socket that breaks while stdout is fine is an error."""
    code = ("import socket, sys\n"
            "from api import cli\n"
            "from api.cli import indexes\n"
            "def broken(args):\n"
            "    a, b = socket.socketpair()\n"
            "    b.close()\n"
            "    for _ in range(100):\n"
            "        a.send(b'x' * 65536)\n"
            "    return 0\n"
            "indexes.cmd_status = broken\n"
            "sys.exit(cli.main(sys.argv[1:]))\n")
    r = subprocess.run([sys.executable, "-c", code, "status", "--home", str(tmp_path / "h")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode not in (0, 141) and "BrokenPipeError" in r.stderr, (r.returncode, r.stderr)


def test_status_refuses_an_index_built_with_another_model(home: Path) -> None:
    r = run(home, "status", "--embedder", "hash:32")
    assert r.returncode == 1 and "casepilot reindex" in r.stderr, r.stderr  # a configuration error
    assert run(home, "status").returncode == 0
