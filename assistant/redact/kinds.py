"""The kinds of personal value redaction replaces, each with its placeholder and the longest value it
may replace, and what a redaction returns (the text and a count per kind)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

EMAIL = "邮箱"
ID_NUMBER = "身份证号"
BANK_CARD = "银行卡号"
IP = "IP地址"
MOBILE = "手机号"
LANDLINE = "电话"
NAME = "姓名"
ADDRESS = "地址"
# the kinds in the order they are reported
KINDS = (MOBILE, LANDLINE, EMAIL, ID_NUMBER, BANK_CARD, IP, NAME, ADDRESS)

# The longest value (in characters of the original text) each kind can replace. Every rule is bounded
# by its row; tests/test_redact_corpus.py fails on any replacement longer than this.
MAX_LENGTH: dict[str, int] = {
    MOBILE: 19,      # "(+86) 138-1234-5678"
    LANDLINE: 33,    # "0086 (0755) 8888 9999 ext. 123456"
    EMAIL: 254,      # RFC 5321 path limit, local part at most 64
    ID_NUMBER: 28,   # 18 characters in at most 6 groups, separators of at most 2 characters
    BANK_CARD: 29,   # 19 digits in at most 6 groups, separators of at most 2 characters
    IP: 39,          # a full IPv6 address (IPv4: 15)
    NAME: 40,        # cued: 4 Chinese characters (12 with ·), or 3 Latin words of up to 12 letters
    ADDRESS: 64,     # parts after a cue, at most 64 characters; a given address longer than this is ignored
}


def placeholder(kind: str) -> str:
    return f"[{kind}]"


@dataclass(frozen=True)
class Redacted:
    """The redacted text and how many values of each kind were replaced (kinds with none left out)."""

    text: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def add_counts(total: dict[str, int], counts: Mapping[str, int]) -> dict[str, int]:
    """Add ``counts`` into ``total`` (in place) and return it."""
    for kind, n in counts.items():
        if n:
            total[kind] = total.get(kind, 0) + n
    return total


def format_counts(counts: Mapping[str, int]) -> str:
    """``3 手机号, 1 身份证号`` in the order of ``KINDS``; empty when nothing was redacted."""
    order = {k: i for i, k in enumerate(KINDS)}
    return ", ".join(f"{n} {k}" for k, n in sorted(counts.items(), key=lambda kv: order.get(kv[0], 99)) if n)

