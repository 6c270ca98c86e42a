"""Facts that several rooms use are defined once (issue 23, item 7): the case sections and their order,
the row of an unanswered question; and where a second copy must exist (the console's JavaScript, the
HTTP schema), it is checked against the one definition. Also: another version of a module that is now
a package can still be loaded beside this checkout's, for a before/after measurement."""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import asdict, fields
from pathlib import Path
from typing import get_args

import pytest

from api.schemas.answers import GapOut, GapsOut
from api.schemas.review import Editable
from assistant.answering import Assistant
from assistant.context import READING_ORDER, SENTENCE_ORDER
from assistant.drafting import draft_extractive
from assistant.gaps import Gap, unanswered
from assistant.library import Library
from assistant.types import CASE_SECTIONS
from evals.versions import load_version
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl

ROOT = Path(__file__).resolve().parent.parent


def test_the_console_shows_the_case_sections_in_their_order() -> None:
    ask = (ROOT / "api" / "console" / "js" / "ask.js").read_text(encoding="utf-8")
    m = re.search(r"^export const SECTIONS = (\[.*?\]);$", ask, re.M)
    assert m, "ask.js exports SECTIONS"
    assert tuple(json.loads(m.group(1))) == CASE_SECTIONS
    review = (ROOT / "api" / "console" / "js" / "review.js").read_text(encoding="utf-8")
    assert re.search(r'^import \{[^}]*\bSECTIONS\b[^}]*\} from "\./ask\.js";$', review, re.M)
    assert "const SECTIONS" not in review


def test_purpose_orders_are_orders_of_the_same_sections() -> None:
    assert sorted(READING_ORDER) == sorted(CASE_SECTIONS) == sorted(SENTENCE_ORDER)
    assert READING_ORDER[0] == SENTENCE_ORDER[0] == "solution"  # what a model and the engines read first
    assert get_args(Editable)[: 1 + len(CASE_SECTIONS)] == ("title", *CASE_SECTIONS)


def test_the_http_gap_row_is_the_gap() -> None:
    assert list(GapOut.model_fields) == [f.name for f in fields(Gap)]


def test_a_gap_is_an_abstained_answer_as_the_command_line_and_the_api_show_it(
        library: Library, ingestor: Ingestor, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Through a real store: what ``ask`` could not answer is a gap, its support rounded;
    ``casepilot gaps --json`` and ``GET /v1/gaps`` give the same rows."""
    from api.cli import main

    ingestor.ingest_paths([write_jsonl(library.settings.home.parent / "c.jsonl", [case("C-1"), {
        "kind": "ticket", "id": "T-1", "subject": "打印机连不上WiFi",
        "messages": [{"id": "m1", "role": "customer", "text": "打印机连不上网"}]}])])
    never = Assistant(library, support_threshold=2.0)  # no support is enough: every question abstains
    never.ask("速达国际件能寄带锂电池的蓝牙耳机去美国吗？")
    never.ask("打印机连不上WiFi怎么办", ticket="T-1")
    Assistant(library, support_threshold=0.0).ask("打印机连不上WiFi怎么办")  # answered: no gap
    gaps = unanswered(library.store, library.tenant, 10)
    assert sorted((g.question, g.ticket or "") for g in gaps) == [("打印机连不上WiFi怎么办", "T-1"),
                                                                 ("速达国际件能寄带锂电池的蓝牙耳机去美国吗？", "")]
    assert all(g.support == round(g.support, 3) and g.at for g in gaps)
    assert len(unanswered(library.store, library.tenant, 1)) == 1
    library.close()
    monkeypatch.setenv("CASEPILOT_EMBEDDER", "hash")
    capsys.readouterr()
    assert main(["gaps", "--json", "--home", str(library.settings.home)]) == 0
    rows = sorted((asdict(g) for g in gaps), key=lambda r: r["question"])  # asked within a second: any order
    assert sorted(json.loads(capsys.readouterr().out)["unanswered"], key=lambda r: r["question"]) == rows
    assert GapsOut.model_validate({"unanswered": rows}).model_dump() == {"unanswered": rows}


def test_another_version_of_a_package_loads_beside_this_one(tmp_path: Path) -> None:
    """``draft_eval --drafter DIR`` and ``test_redact_corpus.py DIR`` load a copy of the package; a
    changed copy drafts differently while this checkout's drafter is untouched."""
    copy = tmp_path / "drafting"
    shutil.copytree(ROOT / "assistant" / "drafting", copy)
    ticket = {"id": "T-1", "status": "closed", "messages": [
        {"id": "m1", "role": "customer", "text": "打印机连不上公司的无线网络"},
        {"id": "m2", "role": "agent", "text": "请重启路由器后重新连接打印机"},
        {"id": "m3", "role": "customer", "text": "好了，可以了，谢谢"}]}
    assert load_version(copy, "drafting").draft_extractive(ticket).to_dict() == draft_extractive(ticket).to_dict()
    rules = copy / "extractive.py"
    rules.write_text(rules.read_text(encoding="utf-8").replace("max_per_section: int = 6", "max_per_section: int = -1"),
                     encoding="utf-8")
    changed = load_version(copy, "drafting").draft_extractive(ticket)
    assert changed.skipped == "no solution in the conversation" and not draft_extractive(ticket).skipped


def test_another_version_of_a_single_module_loads_with_its_relative_imports(tmp_path: Path) -> None:
    old = tmp_path / "redact.py"  # as `git show REV:assistant/redact.py` writes it, before the package
    old.write_text("from .errors import ConfigError\n\nclass Redactor:\n    error = ConfigError\n", encoding="utf-8")
    from assistant.errors import ConfigError

    assert load_version(old, "redact").Redactor.error is ConfigError
