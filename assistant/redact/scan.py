"""The text being searched: a folded copy of the same length (so offsets map back to the original),
in which each value found is masked so that no later rule looks inside it; and the small helpers the
rules are written with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from .kinds import KINDS


def words(s: str) -> list[str]:
    return s.split()


def alt(*groups: str) -> str:
    """A non-capturing alternation of the space-separated words of ``groups`` (longest first)."""
    found = sorted({w for g in groups for w in g.split()}, key=len, reverse=True)
    return "(?:" + "|".join(map(re.escape, found)) + ")"


_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}  # full-width ASCII → ASCII
_FOLD.update({0x3000: 0x20, 0xA0: 0x20, 0x202F: 0x20, 0x2007: 0x20, 0x2009: 0x20})
_FOLD.update({ord(c): ord("-") for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"})


def fold(text: str) -> str:
    """Full-width forms to ASCII and dash variants to ``-``, one character for one character."""
    return text.translate(_FOLD)


MASK = "\ue000"  # stands in for text already claimed (a private-use character: no digit, no letter)
PLACEHOLDER = re.compile(r"\[(?:" + "|".join(map(re.escape, KINDS)) + r")\]")
KEEP = ""  # the kind of an allowed value: masked so no later rule looks inside it, but not replaced


@dataclass
class Span:
    start: int
    end: int
    kind: str


class Scan:
    """The folded text being searched; each value found is masked so later searches skip it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.work = PLACEHOLDER.sub(lambda m: MASK * len(m.group(0)), fold(text))  # earlier redactions
        self.spans: list[Span] = []

    def claim(self, found: Iterable[tuple[int, int, str]]) -> None:
        """Take the values ``(start, end, kind)`` that no earlier value overlaps, and mask them
        (in one pass, so that a text with thousands of values stays linear)."""
        taken: list[Span] = []
        last = -1
        for start, end, kind in sorted(found):
            if start >= last and MASK not in self.work[start:end]:
                taken.append(Span(start, end, kind))
                last = end
        if not taken:
            return
        parts, pos = [], 0
        for sp in taken:
            parts += [self.work[pos: sp.start], MASK * (sp.end - sp.start)]
            pos = sp.end
        parts.append(self.work[pos:])
        self.work = "".join(parts)
        self.spans += taken

    def claim_literal(self, value: str, kind: str) -> None:
        """Take every occurrence of ``value`` (folded) that no earlier value overlaps."""
        latin = value.isascii()
        if latin:
            # not glued to a number either: 13812345678Kevin would become a phone number once redacted
            pattern = re.compile(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", re.IGNORECASE)
        else:
            pattern = re.compile(re.escape(value))
        self.claim((m.start(), m.end(), kind) for m in pattern.finditer(self.work))
