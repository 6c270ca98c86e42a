"""The ``Redactor``: finds the personal values of a text, kind after kind (a later kind never looks
inside an earlier kind's match), and replaces each with its placeholder (``[手机号]``)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .allowlist import AllowList
from .kinds import ADDRESS, EMAIL, MAX_LENGTH, NAME, Redacted, placeholder
from .numbers import find_numbers
from .people import ANY_CUE, find_cued_addresses, find_cued_names, variants
from .scan import KEEP, Scan, Span, fold

_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
                    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9])")
_DIGIT = re.compile(r"\d")


class Redactor:
    """Finds and replaces personal values; see the package docstring (``assistant.redact``) for what and how.

    ``keep_private_ips``: keep private, loopback, link-local and documentation IP addresses.
    ``allow``: organisation contacts that are never redacted (``load_allowlist``)."""

    def __init__(self, *, keep_private_ips: bool = True, allow: AllowList | None = None) -> None:
        self.keep_private_ips = keep_private_ips
        self.allow = allow or AllowList()

    def __call__(self, text: str, *, names: Iterable[str] = (), addresses: Iterable[str] = ()) -> Redacted:
        return self.redact(text, names=names, addresses=addresses)

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """``(start, end, kind)`` of each value ``redact`` replaces in ``text`` (for measuring)."""
        return [(sp.start, sp.end, sp.kind) for sp in self._find(text, (), ())] if text else []

    def redact(self, text: str, *, names: Iterable[str] = (), addresses: Iterable[str] = ()) -> Redacted:
        if not text:
            return Redacted(text, {})
        spans = self._find(text, names, addresses)
        if not spans:
            return Redacted(text, {})
        out: list[str] = []
        counts: dict[str, int] = {}
        pos = 0
        for sp in spans:
            out.append(text[pos: sp.start])
            out.append(placeholder(sp.kind))
            counts[sp.kind] = counts.get(sp.kind, 0) + 1
            pos = sp.end
        out.append(text[pos:])
        return Redacted("".join(out), counts)

    def cued_values(self, texts: Iterable[str]) -> tuple[list[str], list[str]]:
        """The names and addresses that cues mark in ``texts`` (``姓名：张三`` → 张三), to pass as
        ``names=`` / ``addresses=`` when redacting other texts about the same person (the other fields
        of a record). They are personal values: keep them in memory, never log or show them."""
        names: set[str] = set()
        addresses: set[str] = set()
        for text in texts:
            if not ANY_CUE.search(fold(text)):
                continue
            for sp in self._find(text, (), ()):
                if sp.kind in (NAME, ADDRESS):
                    (names if sp.kind == NAME else addresses).add(text[sp.start: sp.end])
        return sorted(names), sorted(addresses)

    def _find(self, text: str, names: Iterable[str], addresses: Iterable[str]) -> list[Span]:
        """The values to replace, by offset (the same in ``text`` and its folded copy), in order."""
        scan = Scan(text)
        if "@" in scan.work:
            scan.claim((m.start(), m.end(), KEEP if self.allow.allows_email(m.group(0)) else EMAIL)
                       for m in _EMAIL.finditer(scan.work) if m.end() - m.start() <= MAX_LENGTH[EMAIL])
        if _DIGIT.search(scan.work):
            find_numbers(scan, keep_private_ips=self.keep_private_ips, allow=self.allow)
        for kind, values in ((ADDRESS, addresses), (NAME, names)):
            for value in variants(values, kind):
                scan.claim_literal(value, kind)
        n_given = len(scan.spans)
        if ANY_CUE.search(scan.work):
            find_cued_addresses(scan)
            find_cued_names(scan)
        # a name or address a cue revealed is personal wherever else this text mentions it
        for kind, value in sorted({(sp.kind, fold(text[sp.start: sp.end])) for sp in scan.spans[n_given:]
                                   if sp.kind != KEEP}):
            scan.claim_literal(value, kind)
        return sorted((sp for sp in scan.spans if sp.kind != KEEP), key=lambda sp: sp.start)


_DEFAULT = Redactor()


def redact(text: str, *, names: Iterable[str] = (), addresses: Iterable[str] = (),
           allow: AllowList | None = None) -> Redacted:
    """Redact ``text`` with the default ``Redactor``; ``names`` and ``addresses`` are values known
    to be personal (e.g. a ticket's customer) and are replaced wherever they occur; ``allow``: the
    library's organisation contacts, kept (``load_allowlist``)."""
    rd = Redactor(allow=allow) if allow else _DEFAULT
    return rd.redact(text, names=names, addresses=addresses)

