"""The command line's side of the ratings' prior: who rated, an opened record, and --explain showing
what ratings of similar questions did to a record."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli_run import Ran, run_cli
from tests.conftest import case, write_jsonl

QUESTION = "打印机连不上WiFi怎么办"


def run(home: Path, *args: str) -> Ran:
    return run_cli(*args, env={"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash",
                               "CASEPILOT_ABSTAIN_BELOW": "0", "CASEPILOT_RATING_PRIOR": "true"})


def test_ratings_name_the_rater_and_move_the_record_for_the_same_question(tmp_path: Path) -> None:
    home = tmp_path / "home"
    src = write_jsonl(tmp_path / "cases.jsonl", [
        case("C-1", "打印机连不上WiFi：路由器只开了5GHz"), case("C-2", "打印机连不上WiFi：驱动需要重装"),
        case("C-3", "发票抬头开错了：作废后重开", tags=["产品线/计费系统"])])
    assert run(home, "ingest", str(src)).returncode == 0
    before = json.loads(run(home, "search", QUESTION, "--explain", "--json").stdout)["results"]
    assert all("prior" not in h["explain"] for h in before)

    answer = json.loads(run(home, "ask", QUESTION, "--json").stdout)
    cited = answer["citations"][0]["id"]
    for name in ("lin", "wang"):
        r = run(home, "feedback", answer["id"], "--helpful", "--as", name, "--json")
        assert r.returncode == 0, r.stderr
        assert json.loads(r.stdout)["rater"] == f"cli:{name}"
    other = next(h["id"] for h in before if h["id"] != cited)
    r = run(home, "feedback", answer["id"], "--opened", other, "--as", "zhao", "--json")
    assert r.returncode == 0 and json.loads(r.stdout)["rater"] == "cli:zhao"

    shown = run(home, "search", QUESTION, "--explain")
    assert shown.returncode == 0
    assert "ratings of similar questions: ×" in shown.stdout and "from 2 raters" in shown.stdout
    after = {h["id"]: h for h in json.loads(run(home, "search", QUESTION, "--explain", "--json").stdout)["results"]}
    assert after[cited]["explain"]["prior"]["raters"] == 2 and after[cited]["explain"]["prior"]["factor"] > 1
    assert after[other]["explain"]["prior"]["net"] == 0.25
    listed = run(home, "feedback", "--list")
    assert "by cli:lin" in listed.stdout and "by cli:wang" in listed.stdout

    # an unknown record, or an opened record with a rating, is refused
    missing = run(home, "feedback", answer["id"], "--opened", "C-404")
    assert missing.returncode == 2 and "no case or article 'C-404'" in missing.stderr
    assert run(home, "feedback", answer["id"], "--opened", "C-1", "--helpful").returncode == 2
