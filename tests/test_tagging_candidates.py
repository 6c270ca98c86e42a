"""Tags that always help: a suggestion lists its best candidates with confidences even when it
abstains from a pick; a dimension marked ``single: true`` gets at most one pick; a library without
a taxonomy is warned about once per process, not once per text; the HTTP API (real uvicorn) and
``casepilot tags suggest`` carry the candidates and the flag."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.library import Library
from assistant.settings import Settings
from assistant.tagging import TagSuggester, pick
from assistant.taxonomy import Taxonomy, TaxonomyError, parse_taxonomy
from ingestion.pipeline import Ingestor
from tests.cli_run import Ran, run_cli
from tests.conftest import case, write_jsonl
from tests.test_api import Server

TAXONOMY = """\
dimensions:
  设备:
    single: {single}
    values:
      扫地机: {{synonyms: [扫地机器人, robot vacuum]}}
      洗碗机: {{synonyms: [dishwasher]}}
      空气净化器: {{synonyms: [净化器]}}
  故障:
    values:
      联网失败: {{synonyms: [连不上网, 配网失败]}}
      异响: {{synonyms: [噪音大, 有杂音]}}
      漏水: {{synonyms: [渗水]}}
"""

# both appliances of the single-value dimension are named, and one fault
TWO_DEVICES = "扫地机器人和洗碗机都配网失败"


def appliance_cases() -> list[dict[str, Any]]:
    return [
        case("K-1", "扫地机器人配网失败", problem="扫地机器人连不上家里的路由器。", tags=["设备/扫地机", "故障/联网失败"]),
        case("K-2", "扫地机工作时噪音大", problem="扫地机清扫时有杂音。", tags=["设备/扫地机", "故障/异响"]),
        case("K-3", "洗碗机底部渗水", problem="洗碗机运行后底部有水。", tags=["设备/洗碗机", "故障/漏水"]),
        case("K-4", "净化器滤网异响", problem="空气净化器开高档时滤网异响。", tags=["设备/空气净化器", "故障/异响"]),
    ]


def load(tmp_path: Path, lib: Library, single: bool = True) -> None:
    tax = tmp_path / "taxonomy.yaml"
    tax.write_text(TAXONOMY.format(single=str(single).lower()), encoding="utf-8")
    Ingestor(lib).ingest_paths([tax, write_jsonl(tmp_path / "cases.jsonl", appliance_cases())])


@pytest.fixture
def appliances(tmp_path: Path, library: Library) -> Library:
    load(tmp_path, library)
    return library


def test_candidates_are_listed_when_abstaining(appliances: Library) -> None:
    s = TagSuggester(appliances, abstain_below=0.99).suggest("扫地机一直连不上网", k=3)
    assert s.abstained and s.tags == []
    assert 1 <= len(s.candidates) <= 3 and {"设备/扫地机", "故障/联网失败"} <= {t for t, _ in s.candidates}
    assert [c for _, c in s.candidates] == sorted((c for _, c in s.candidates), reverse=True)
    assert all(0 < c < 0.99 for _, c in s.candidates)
    d = s.to_dict()
    assert d["tags"] == [] and d["abstained"] is True
    assert d["candidates"] == [{"tag": t, "confidence": round(c, 3)} for t, c in s.candidates]


def test_picks_are_the_confident_candidates(appliances: Library) -> None:
    s = TagSuggester(appliances, abstain_below=0.3).suggest("扫地机一直连不上网", k=5)
    assert not s.abstained and s.tags == [(t, c) for t, c in s.candidates if c >= 0.3]
    assert len(s.candidates) > len(s.tags)  # the weak ones stay candidates


def test_a_single_value_dimension_gets_one_pick(appliances: Library, tmp_path: Path) -> None:
    s = TagSuggester(appliances, abstain_below=0.3).suggest(TWO_DEVICES, k=5)
    devices = [t for t, _ in s.candidates if t.startswith("设备/")]
    assert {"设备/扫地机", "设备/洗碗机"} <= set(devices)  # both remain candidates
    assert [t for t, _ in s.tags if t.startswith("设备/")] == devices[:1]  # the best one is picked
    assert "故障/联网失败" in dict(s.tags)  # other dimensions are not limited
    # the same library with the dimension open to several values picks both
    (tmp_path / "open").mkdir()
    load(tmp_path / "open", appliances, single=False)
    s = TagSuggester(appliances, abstain_below=0.3).suggest(TWO_DEVICES, k=5)
    assert {"设备/扫地机", "设备/洗碗机"} <= dict(s.tags).keys()


def test_pick_and_the_taxonomy_flag() -> None:
    tax = parse_taxonomy({"dimensions": {"a": {"single": True, "values": {"x": {}, "y": {}}},
                                         "b": {"values": {"x": {}, "y": {}}}}})
    assert tax.single == {"a"} and tax.is_single("a/x") and not tax.is_single("b")
    ranked = [("a/x", 0.9), ("b/x", 0.8), ("a/y", 0.7), ("b/y", 0.5), ("b/z", 0.1)]
    assert pick(ranked, 0.3, tax) == [("a/x", 0.9), ("b/x", 0.8), ("b/y", 0.5)]
    assert pick(ranked, 0.3) == ranked[:4]  # without a taxonomy no dimension is limited
    assert pick(ranked, 0.95, tax) == []
    with pytest.raises(TaxonomyError, match=r"dimensions\.a\.single"):
        parse_taxonomy({"dimensions": {"a": {"single": "yes", "values": {"x": {}}}}})
    assert parse_taxonomy({"dimensions": {"a": {"values": {"x": {}}}}}).single == set()


def test_no_taxonomy_is_warned_once(library: Library, ingestor: Ingestor, tmp_path: Path,
                                    caplog: pytest.LogCaptureFixture) -> None:
    ingestor.ingest_paths([write_jsonl(tmp_path / "cases.jsonl", appliance_cases())])
    caplog.set_level(logging.WARNING, logger="assistant.tagging")
    for text in ("扫地机连不上网", "洗碗机渗水", "净化器噪音大"):  # a new suggester each time, as drafting makes
        s = TagSuggester(library).suggest(text)
        assert s.abstained and s.tags == [] and s.candidates == []
    assert sum("no taxonomy" in r.getMessage() for r in caplog.records) == 1


def test_the_taxonomy_file_keeps_the_flag(appliances: Library) -> None:
    tax = appliances.taxonomy
    assert isinstance(tax, Taxonomy) and tax.single == {"设备"}


# ---- the HTTP API, through a real uvicorn -------------------------------------------------------


def test_api_returns_candidates_and_the_flag(tmp_path: Path) -> None:
    settings = Settings(home=tmp_path / "home", embedder="hash", passage_embedder="hash", tag_abstain_below=0.99)
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    st = app.state.casepilot
    key = create_key(st.http, "default", "reviewer", "tagger")["key"]
    load(tmp_path, Library(settings, "default", store=st.store))
    with Server(app) as srv, httpx.Client(base_url=srv.url, headers={"Authorization": f"Bearer {key}"},
                                          timeout=60) as c:
        r = c.post("/v1/tags/suggest", json={"text": "扫地机一直连不上网", "k": 3})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) == {"tags", "abstained", "candidates"}
        assert body["abstained"] is True and body["tags"] == []
        assert 1 <= len(body["candidates"]) <= 3 and "设备/扫地机" in {x["tag"] for x in body["candidates"]}
        assert all(set(x) == {"tag", "confidence"} and 0 < x["confidence"] < 0.99 for x in body["candidates"])
        schema = c.get("/openapi.json").json()["components"]["schemas"]["TagsOut"]
        assert {"tags", "abstained", "candidates"} <= set(schema["properties"])


# ---- the command line ---------------------------------------------------------------------------


def cli(home: Path, *args: str, **env: str) -> Ran:
    return run_cli(*args, env={"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash", "CASEPILOT_LLM": None,
                               **env})


def test_cli_shows_candidates_and_the_flag(tmp_path: Path) -> None:
    home = tmp_path / "home"
    tax = tmp_path / "taxonomy.yaml"
    tax.write_text(TAXONOMY.format(single="true"), encoding="utf-8")
    r = cli(home, "ingest", str(tax), str(write_jsonl(tmp_path / "c.jsonl", appliance_cases())), "--json")
    assert r.returncode == 0, r.stderr
    strict = {"CASEPILOT_TAG_ABSTAIN_BELOW": "0.99"}
    r = cli(home, "tags", "suggest", "扫地机一直连不上网", "--json", "-k", "3", **strict)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert set(out) == {"tags", "abstained", "candidates"} and out["abstained"] is True and out["tags"] == []
    assert "设备/扫地机" in {x["tag"] for x in out["candidates"]}
    r = cli(home, "tags", "suggest", "扫地机一直连不上网", "-k", "3", **strict)
    lines = r.stdout.splitlines()
    assert r.returncode == 0 and "(abstained); the best candidates:" in lines[0]
    assert len(lines) == 1 + len(out["candidates"]) and all("(candidate, not picked)" in x for x in lines[1:])
    r = cli(home, "tags", "suggest", TWO_DEVICES, "-k", "5")  # the default threshold picks one device
    picked = [x for x in r.stdout.splitlines() if "/" in x and "not picked" not in x]
    assert r.returncode == 0 and sum("设备/" in x for x in picked) == 1, r.stdout
    batch = tmp_path / "b.txt"
    batch.write_text("扫地机一直连不上网\n洗碗机渗水\n", encoding="utf-8")
    r = cli(home, "tags", "suggest", "--batch", str(batch), "--json", **strict)
    rows = [json.loads(x) for x in r.stdout.splitlines()]
    assert [set(x) for x in rows] == [{"text", "tags", "abstained", "candidates"}] * 2
    assert all(x["abstained"] and x["candidates"] for x in rows)


def test_tag_eval_keeps_per_utterance_hits_listed_and_as_misses() -> None:
    from evals.longdoc_eval import paired_bootstrap
    from evals.tag_eval import Outcome, hits

    outcomes = [Outcome("d/a", ["d/a", "d/b"], 0.5),  # picked and right
                Outcome("d/a", ["d/b", "d/a"], 0.1),  # abstained: right in the top-5 listed only
                Outcome("d/a", ["d/a"], 0.1),  # abstained: right in the top-1 listed only
                Outcome("d/a", [], 0.0)]  # nothing to list
    h = hits(outcomes, 0.3)
    assert h["top1"].tolist() == [1, 0, 1, 0] and h["top5"].tolist() == [1, 1, 1, 0]
    assert h["top1_misses"].tolist() == [1, 0, 0, 0] and h["top5_misses"].tolist() == [1, 0, 0, 0]
    d, lo, hi = paired_bootstrap(h["top5_misses"], h["top5"])
    assert d == 0.5 and 0.0 <= lo <= d <= hi <= 1.0
