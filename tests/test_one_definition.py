"""Facts that several rooms use are defined once (issue 23, item 7): the case sections and their order;
where a second copy must exist (the console's JavaScript, the HTTP schema), it is checked against the
one definition. Also: another version of a module that is now
a package can still be loaded beside this checkout's, for a before/after measurement."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import get_args

from api.schemas.review import Editable
from assistant.context import READING_ORDER, SENTENCE_ORDER
from assistant.drafting import draft_extractive
from assistant.types import CASE_SECTIONS
from evals.versions import load_version

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
