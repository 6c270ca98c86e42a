"""``casepilot review approve`` of a likely duplicate: refused without a choice, then approved as
distinct with a reason, or merged (previewed first) into the existing case (in-process CLI runs on a
real home; the hash embedder)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_run import Ran, run_cli
from tests.conftest import case, write_jsonl
from tests.test_review import ticket


def test_cli_approve_a_duplicate_needs_distinct_or_merge(tmp_path: Path) -> None:
    env = {"CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash", "CASEPILOT_HOME": str(tmp_path / "h"),
           "CASEPILOT_DUPLICATE_THRESHOLD": "-1"}  # with the hash embedder any retrieved case is a duplicate

    def run(*args: str) -> Ran:
        return run_cli(*args, env=env)

    lib = write_jsonl(tmp_path / "lib.jsonl", [case("C-1", "扫描仪双张进纸", problem="扫描仪同时吸进两张纸。",
                                                     solution="1. 更换分纸垫")])
    assert run("ingest", str(lib)).returncode == 0
    f = write_jsonl(tmp_path / "t.jsonl", [ticket("T-9"), ticket("T-8")])
    assert run("draft", str(f)).returncode == 0
    r = run("review", "approve", "CD-T-9", "--as", "lin")
    assert r.returncode == 2 and "likely duplicate of C-1" in r.stderr
    assert "casepilot review merge CD-T-9 --into C-1" in r.stderr and "--distinct" in r.stderr
    r = run("review", "approve", "CD-T-9", "--distinct", "另一个型号", "--as", "lin")
    assert r.returncode == 0 and "approved by lin" in r.stdout, r.stderr
    shown = json.loads(run("review", "show", "CD-T-9", "--json").stdout)
    assert any(e["action"] == "approve" and e["detail"]["distinct"] == "另一个型号" for e in shown["audit"])

    r = run("review", "merge", "CD-T-8", "--into", "C-1", "--preview")
    assert r.returncode == 0 and "would merge into C-1" in r.stdout and "在设置里把双张检测打开" in r.stdout
    assert json.loads(run("review", "show", "C-1", "--json").stdout)["version"] == 1
    r = run("review", "merge", "CD-T-8", "outcome=两种情况都已解决", "--into", "C-1", "--json", "--as", "lin")
    assert r.returncode == 0 and json.loads(r.stdout)["merged"]["outcome"] == "两种情况都已解决", r.stderr
    c1 = json.loads(run("review", "show", "C-1", "--json").stdout)
    assert c1["case"]["source_tickets"] == ["T-8"] and "双张检测" in c1["case"]["solution"]
    assert c1["case"]["solution"].startswith("1. 更换分纸垫") and c1["version"] == 2
    assert [e["action"] for e in c1["audit"]][-1] == "merge"
