"""Redaction over real chats: the 300 JDDC customer-service sessions (JD.com, Chinese) in
``../shared/data/dev/jddc/``. No single replacement may be longer than its kind can be
(``assistant.redact.MAX_LENGTH``), and the customer's questions must survive. Skipped when the data is absent.

Run as a script to print the measurement (characters redacted per kind, replacements at their kind's
maximum)::

    .venv/bin/python tests/test_redact_corpus.py [VERSION]

VERSION: another version of the rules, a file (``git show b79ccb8:assistant/redact.py``, before they
became a package) or a package folder (``git archive REV assistant/redact | tar -x -C /tmp/before``,
then ``/tmp/before/assistant/redact``).
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
JDDC = ROOT.parent / "shared" / "data" / "dev" / "jddc" / "chat_dev_300_sessions.txt"


def jddc_messages(path: Path = JDDC) -> list[str]:
    """The text of every message (column 7 on; see evals/draft_eval.jddc_tickets)."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 7:
            out.append("\t".join(parts[6:]).strip())
    return out


# JDDC's own anonymisation placeholders, filled back with made-up values of the same kind, so that the
# rules meet addresses and names inside real chat sentences ("现在收件地址是上海[地址x]，问题是…")
REFILL = {"[地址x]": "浦东新区张江路100号", "[姓名x]": "张伟", "[数字x]": "12", "[订单x]": "71234567890"}


def refill(text: str) -> str:
    for k, v in REFILL.items():
        text = text.replace(k, v)
    return text


def measure(messages: list[str], redactor: Any, max_length: dict[str, int]) -> dict[str, Any]:
    """Per kind: replacements, characters replaced, the longest, and how many are at (or over) the
    kind's maximum; and the share of all characters replaced."""
    n: Counter[str] = Counter()
    chars: Counter[str] = Counter()
    longest: Counter[str] = Counter()
    at_max: Counter[str] = Counter()
    over: list[tuple[str, int, str]] = []
    total = 0
    for text in messages:
        total += len(text)
        for sp in redactor._find(text, (), ()):
            length = sp.end - sp.start
            n[sp.kind] += 1
            chars[sp.kind] += length
            longest[sp.kind] = max(longest[sp.kind], length)
            if length >= max_length[sp.kind]:
                at_max[sp.kind] += 1
            if length > max_length[sp.kind]:
                over.append((sp.kind, length, text[:60]))
    return {"total_chars": total, "redacted_chars": sum(chars.values()), "count": dict(n), "chars": dict(chars),
            "longest": dict(longest), "at_max": dict(at_max), "over": over}


@pytest.fixture(scope="module")
def messages() -> list[str]:
    if not JDDC.exists():
        pytest.skip(f"JDDC dev data not found at {JDDC} (the shared dev data is not installed here)")
    return jddc_messages()


def test_no_replacement_is_longer_than_its_kind_can_be(messages: list[str]) -> None:
    from assistant.redact import MAX_LENGTH, Redactor

    assert len(messages) > 3000
    m = measure(messages, Redactor(), MAX_LENGTH)
    print(f"\nJDDC: {m['redacted_chars']} of {m['total_chars']} characters redacted "
          f"({m['redacted_chars'] / m['total_chars']:.4%}); per kind {m['chars']}, at max {m['at_max']}")
    assert m["over"] == []
    # the sessions are already anonymised ([地址x], [姓名x], [数字x]); what is left to find is little
    assert m["redacted_chars"] / m["total_chars"] < 0.001


def test_refilled_chats_no_replacement_is_longer_than_its_kind_can_be(messages: list[str]) -> None:
    from assistant.redact import MAX_LENGTH, Redactor

    m = measure([refill(t) for t in messages], Redactor(), MAX_LENGTH)
    print(f"\nJDDC refilled: {m['redacted_chars']} of {m['total_chars']} characters redacted "
          f"({m['redacted_chars'] / m['total_chars']:.4%}); per kind {m['chars']}, at max {m['at_max']}")
    assert m["over"] == [] and m["at_max"] == {}
    assert m["count"].get("地址", 0) >= 1  # a refilled address after a cue is still found


def test_the_customers_words_survive(messages: list[str]) -> None:
    from assistant.redact import redact

    assert redact("公司地址 是不是要填写 在吗 单号1").text == "公司地址 是不是要填写 在吗 单号1"
    # every JDDC message with an address cue keeps its question words
    cued = [t for t in messages if "地址是" in t or "地址:" in t or "地址：" in t]
    assert cued
    for text in cued + [refill(t) for t in cued]:
        out = redact(text).text
        for word in ("吗", "呢", "的话", "不是", "可以"):
            assert out.count(word) == text.count(word), (word, text)


if __name__ == "__main__":  # the measurement for docs/redaction.md
    sys.path.insert(0, str(ROOT))
    if len(sys.argv) > 1:  # another version: a redact.py (before the package) or a redact/ folder
        from evals.versions import load_version

        mod = load_version(Path(sys.argv[1]), "redact")
    else:
        import assistant.redact as mod
    from assistant.redact import MAX_LENGTH

    for label, texts in (("JDDC as published", jddc_messages()), ("JDDC refilled", map(refill, jddc_messages()))):
        m = measure(list(texts), mod.Redactor(), MAX_LENGTH)
        print(f"{label}: {m['redacted_chars']} of {m['total_chars']} characters redacted "
              f"({m['redacted_chars'] / m['total_chars']:.4%})")
        print("kind\treplacements\tchars\tlongest\tmax\tat max")
        for kind in MAX_LENGTH:
            if m["count"].get(kind):
                print(f"{kind}\t{m['count'][kind]}\t{m['chars'][kind]}\t{m['longest'][kind]}"
                      f"\t{MAX_LENGTH[kind]}\t{m['at_max'].get(kind, 0)}")
        for kind, length, text in m["over"]:
            print(f"OVER {kind} {length}: {text}")
