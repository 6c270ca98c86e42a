"""Organisation contacts that are never redacted (a support mailbox, a service hotline), listed by the
library owner in ``<home>/redaction.yaml``::

    # contacts of the organisation: never redacted
    allow_emails:
      - ESUNPAY_cservice@esunpay.example     # one address (case-insensitive)
      - "*@support.example.com"              # every address of a domain
    allow_phones:
      - 0571-86001234                        # compared by digits; +86/0086 and an extension ignored
      - 13800138000

A missing file allows nothing; a malformed one is an error (``ConfigError``) naming the file.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..errors import ConfigError
from ..home_files import read_home_file
from .scan import fold

ALLOWLIST_FILE = "redaction.yaml"


def _phone_key(s: str) -> str:
    """The digits of a phone number without a +86 / 0086 country code."""
    d = "".join(c for c in fold(s) if c.isdigit())
    for cc in ("0086", "86"):
        if d.startswith(cc) and len(d) - len(cc) >= 10 and d[len(cc)] in "01":
            return d[len(cc):]
    return d


@dataclass(frozen=True)
class AllowList:
    """Organisation contacts that are never redacted: e-mail addresses (exact, case-insensitive) and
    domains (from ``*@domain``; the domain's subdomains are not included), and phone numbers compared
    by digits (a +86/0086 prefix, and an extension after an allowed number, do not matter)."""

    emails: frozenset[str] = frozenset()
    email_domains: frozenset[str] = frozenset()
    phones: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.emails or self.email_domains or self.phones)

    @classmethod
    def of(cls, emails: Iterable[str] = (), phones: Iterable[str] = ()) -> AllowList:
        exact: set[str] = set()
        domains: set[str] = set()
        for e in emails:
            e = fold(str(e)).strip().lower()
            if e.startswith("*@") and len(e) > 2:
                domains.add(e[2:])
            elif "@" in e:
                exact.add(e)
            else:
                raise ValueError("an allowed e-mail is an address or *@domain")
        keys = set()
        for ph in phones:
            k = _phone_key(str(ph))
            if len(k) < 5:
                raise ValueError("an allowed phone number has at least 5 digits")
            keys.add(k)
        return cls(frozenset(exact), frozenset(domains), frozenset(keys))

    def allows_email(self, value: str) -> bool:
        v = fold(value).lower()
        return v in self.emails or v.rpartition("@")[2] in self.email_domains

    def allows_phone(self, value: str) -> bool:
        k = _phone_key(value)
        # an allowed switchboard number followed by an extension (…转123, …-8021) is allowed too
        return k in self.phones or any(k.startswith(p) and len(p) >= 10 for p in self.phones)


def load_allowlist(home: Path | str) -> AllowList:
    """The allow-list in ``<home>/redaction.yaml`` (empty when there is none); re-read when the file
    changes. A malformed file raises ``ConfigError`` naming the file (never its values)."""
    path = Path(home) / ALLOWLIST_FILE
    return read_home_file(path, lambda text: _parse_allowlist(text, path), AllowList)


def _parse_allowlist(text: str, path: Path) -> AllowList:
    try:
        data: Any = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError("expected a mapping with allow_emails and allow_phones")
        unknown = set(data) - {"allow_emails", "allow_phones"}
        if unknown:
            raise ValueError(f"unknown keys {sorted(map(str, unknown))}; expected allow_emails, allow_phones")
        lists = {k: data.get(k) or [] for k in ("allow_emails", "allow_phones")}
        for k, v in lists.items():
            if not isinstance(v, list):
                raise ValueError(f"{k} must be a list")
        allow = AllowList.of(lists["allow_emails"], lists["allow_phones"])
    except (yaml.YAMLError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    return allow
