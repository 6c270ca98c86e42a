"""The promise check: a sentence of an answer or a draft that commits to a refund, compensation, a
deadline, a legal or medical statement or a guarantee is flagged unless its cited source commits to the
same (the same kind of commitment, the same numbers and durations, the same "today" or "free").

The categories and their words are a policy the library owner edits: ``<home>/promise_policy.yaml``
when there is one (it replaces the default whole), else ``assistant/promise_policy.yaml``. A malformed
file is a ``ConfigError`` naming it. Everything is compared after ``text.normalise`` (traditional to
simplified, full width folded) and lower-cased.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import yaml

from .errors import ConfigError
from .home_files import read_home_file
from .text import normalise, to_simplified

POLICY_FILE = "promise_policy.yaml"
REASONS = ("uncited", "topic", "quantity", "word", "library")  # why a claim is flagged (Flag.reason)

# a number as written in answers and tickets: 3, 1-3, 2.5, 三, 二十四, JDDC's masked [数字x]
_ATOM = r"(?:\d+(?:\.\d+)?|\[数字x\]|[一二两三四五六七八九十]{1,3})"
NUM = rf"(?:{_ATOM}(?:\s*[-~～到至]\s*{_ATOM})?)"
_UNITS = {  # unit words, longest first within each, to the unit they mean
    "workday": r"个?工作日|business\s+days?|working\s+days?|werktage?n?|arbeitstage?n?",
    "day": r"自然日|天|日|days?|tage?n?",
    "hour": r"个?小时|hours?|hrs?|stunden?|h",
    "minute": r"分钟|minutes?|mins?|minuten?",
    "week": r"个?星期|周|weeks?|wochen?",
    "month": r"个月|months?|monate?n?",
    "cny": r"块钱|元|块|rmb|yuan|¥",
    "usd": r"usd|dollars?|\$",
    "eur": r"euros?|eur|€",
    "percent": r"%|percent|prozent",
    "discount": r"折",
}
_QUANTITY = re.compile(rf"(?P<n>{NUM})\s*(?:{'|'.join(f'(?P<{k}>{v})' for k, v in _UNITS.items())})(?![a-z])"
                       rf"|(?P<cur>[¥$€])\s*(?P<cn>{NUM})")
_CUR = {"¥": "cny", "$": "usd", "€": "eur"}
_ZH_DIGITS = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
_CLAUSE = re.compile(r"[，,；;：:。.!！?？]")
_QUESTION = re.compile(r"(?:[?？]|[吗么呢][\s。.!！~～]*)$")


def fold(text: str) -> str:
    """The form the policy compares: ``normalise`` and lower case."""
    return normalise(text).lower()


def _number(s: str) -> str:
    """A number as a key: Chinese numerals to digits, a range as ``1-3``."""
    parts = re.split(r"\s*[-~～到至]\s*", s)
    if len(parts) > 1:
        return "-".join(_number(p) for p in parts)
    if s and s[0] in "一二两三四五六七八九十":
        tens, _, ones = s.partition("十")
        if "十" not in s:
            return str(_ZH_DIGITS.get(s, 0)) if len(s) == 1 else s
        return str(_ZH_DIGITS.get(tens, 1) * 10 + _ZH_DIGITS.get(ones, 0))
    return s


def quantities(folded: str) -> dict[str, str]:
    """``{key: as written}`` of the amounts in folded text: ``7|day`` for 7天, ``3|workday`` for 三个工作日."""
    out: dict[str, str] = {}
    for m in _QUANTITY.finditer(folded):
        if m.group("cur"):
            key = f"{_number(m.group('cn'))}|{_CUR[m.group('cur')]}"
        else:
            unit = next(k for k in _UNITS if m.group(k))
            key = f"{_number(m.group('n'))}|{unit}"
        out.setdefault(key, m.group(0))
    return out


def _term(term: str) -> str:
    """A policy term as a regular expression: a Latin term whole-word (``*``: may go on), others anywhere."""
    t = fold(term)
    star = t.endswith("*")
    t = t.rstrip("*")
    body = r"\s+".join(re.escape(w) for w in t.split())
    if re.match(r"[a-zäöüß']", t):
        return rf"(?<![a-zäöüß]){body}" + (r"[a-zäöüß]*" if star else r"(?![a-zäöüß])")
    return body


@dataclass(frozen=True)
class Category:
    name: str
    label: str
    needs_commitment: bool
    match: re.Pattern[str]  # its terms and patterns
    commit: re.Pattern[str] | None  # its own commitment words
    own_only: bool = False  # only its own commitment words count (commitment_from: own)


@dataclass(frozen=True)
class Claim:
    """A commitment found in a sentence: its category and the words that made it one."""

    category: str
    label: str
    words: str


@dataclass(frozen=True)
class Flag:
    """A sentence that commits to what its source does not say. ``reason``: ``uncited`` (no source),
    ``topic`` (the source says nothing of the kind), ``quantity`` / ``word`` (not the same amounts or
    days: ``missing`` lists them), ``library`` (a draft's commitment no approved record makes)."""

    sentence: str
    category: str
    label: str
    reason: str
    why: str
    source: str = ""
    missing: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["missing"] = list(self.missing)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Flag:
        return cls(str(d["sentence"]), str(d["category"]), str(d.get("label") or d["category"]), str(d["reason"]),
                   str(d.get("why") or ""), str(d.get("source") or ""), tuple(d.get("missing") or ()))


@dataclass(frozen=True)
class Policy:
    categories: tuple[Category, ...]
    commit: re.Pattern[str]
    negation: re.Pattern[str]
    exact: re.Pattern[str] | None
    path: str  # the file it was read from
    # claims by sentence: answers quote the same library sentences over and over
    _claims: dict[str, tuple[Claim, ...]] = field(default_factory=dict, compare=False, repr=False)

    def _negated(self, s: str, at: int) -> bool:
        """Whether a negation takes back the word at ``at``: within its clause, the four characters
        (CJK) or three words (Latin) before it."""
        clause = _CLAUSE.split(s[:at])[-1]
        window = clause[-4:] + " " + " ".join(re.findall(r"[a-zäöüß']+", clause)[-3:])
        return bool(self.negation.search(window))

    def _any(self, pattern: re.Pattern[str] | None, s: str) -> re.Match[str] | None:
        return next((m for m in pattern.finditer(s) if not self._negated(s, m.start())), None) if pattern else None

    def claims(self, sentence: str) -> list[Claim]:
        """The commitments ``sentence`` makes, one per category (a question makes none)."""
        found = self._claims.get(sentence)
        if found is None:
            if len(self._claims) >= 8192:
                self._claims.clear()
            found = self._claims[sentence] = tuple(self._claims_of(sentence))
        return list(found)

    def _claims_of(self, sentence: str) -> list[Claim]:
        s = fold(sentence)
        if not s or _QUESTION.search(s):
            return []
        commits = self._any(self.commit, s) is not None
        out = []
        for c in self.categories:
            m = self._any(c.match, s)
            if m is None:
                continue
            if c.needs_commitment and not (commits and not c.own_only) and self._any(c.commit, s) is None:
                continue
            out.append(Claim(c.name, c.label, m.group(0)))
        return out

    def check(self, sentence: str, source: str | None, source_id: str = "") -> list[Flag]:
        """Flags for the commitments of ``sentence`` that ``source`` (the cited record's text; None: the
        sentence cites nothing) does not make: the same kind of commitment, every amount of the
        sentence, and every exact word (今天, 免费) of it."""
        found = self.claims(sentence)
        if not found:
            return []
        name = source_id or "the source"
        if source is None:
            return [Flag(sentence, c.category, c.label, "uncited", f"commits to {c.category} ({c.words}) "
                         "and cites no record") for c in found]
        s, src = fold(sentence), fold(source)
        have = quantities(src)
        missing_q = tuple(w for k, w in quantities(s).items() if k not in have)
        missing_w = tuple(dict.fromkeys(w for w in (self.exact.findall(s) if self.exact else [])
                                        if not re.search(_term(w), src)))
        cats = {c.name: c for c in self.categories}

        def said(c: Claim) -> bool:  # the source makes this kind of commitment, or names the same amounts
            own = quantities(fold(c.words))
            return bool(cats[c.category].match.search(src)) or (bool(own) and own.keys() <= have.keys())

        out = [Flag(sentence, c.category, c.label, "topic", f"commits to {c.category} ({c.words}); {name} says "
                    "nothing of it", source_id) for c in found if not said(c)]
        on_topic = [c for c in found if said(c)]
        off = [fold(c.words) for c in found if not said(c)]  # amounts inside a claim flagged already
        for reason, missing in (("quantity", missing_q), ("word", missing_w)):
            missing = tuple(m for m in missing if not any(fold(m) in w for w in off))
            owners: dict[Claim, list[str]] = {}
            for m in missing:  # the claim whose words hold it (7天内), else one holding no other amount
                fm = fold(m)
                owner = next((c for c in on_topic if fm in fold(c.words)), None) or next(
                    (c for c in on_topic if not quantities(fold(c.words))), on_topic[0] if on_topic else None)
                if owner is not None:
                    owners.setdefault(owner, []).append(m)
            out += [Flag(sentence, c.category, c.label, reason, f"commits to {', '.join(ms)}; {name} does not say so",
                         source_id, tuple(ms)) for c, ms in owners.items()]
        return out


WARNING = "⚠ 以下句子所作的承诺（退款、补偿、时限、法律、医疗或保证）引用的来源中没有，答复客户前请核实："


def warning_text(flags: list[Flag]) -> str:
    """The warning a reply that is only text carries (a chat client, a bot): empty without flags."""
    labels: dict[str, list[str]] = {}
    for f in flags:  # one line a sentence, with every category it promises in
        labels.setdefault(f.sentence, []).append(f.label)
    lines = [f"- [{'、'.join(dict.fromkeys(ls))}] {s}" for s, ls in labels.items()]
    return f"{WARNING}\n" + "\n".join(lines) if flags else ""


def _words(data: dict[str, Any], key: str, where: str) -> list[str]:
    v = data.get(key) or []
    if not isinstance(v, list) or not all(isinstance(x, (str, int, float)) and str(x).strip() for x in v):
        raise ValueError(f"{where}{key} must be a list of words")
    return [str(x) for x in v]


def _compile(parts: list[str], where: str) -> re.Pattern[str]:
    try:
        return re.compile("|".join(f"(?:{p})" for p in parts), re.IGNORECASE)
    except re.error as e:
        raise ValueError(f"{where}: not a valid pattern ({e})") from None


def parse_policy(text: str, path: str = "<policy>") -> Policy:
    """A policy from its YAML text; ``ConfigError`` naming ``path`` and the part that is wrong."""
    try:
        data = yaml.safe_load(text) or {}
        if not isinstance(data, dict):
            raise ValueError("expected a mapping with version and categories")
        top = {"version", "commitment", "commitment_patterns", "negation", "exact_words", "categories"}
        if unknown := set(map(str, data)) - top:
            raise ValueError(f"unknown keys {sorted(unknown)}; expected {', '.join(sorted(top))}")
        if data.get("version") != 1:
            raise ValueError("version must be 1")
        cats_in = data.get("categories")
        if not isinstance(cats_in, dict) or not cats_in:
            raise ValueError("categories must be a mapping of at least one category")
        cats = []
        for name, c in cats_in.items():
            where = f"categories.{name}."
            if not isinstance(c, dict):
                raise ValueError(f"categories.{name} must be a mapping")
            keys = {"label", "needs_commitment", "terms", "patterns", "commitment", "commitment_from"}
            if unknown := set(map(str, c)) - keys:
                raise ValueError(f"{where[:-1]}: unknown keys {sorted(unknown)}")
            terms, patterns = _words(c, "terms", where), _words(c, "patterns", where)
            if not terms and not patterns:
                raise ValueError(f"categories.{name} needs terms or patterns")
            if not isinstance(c.get("needs_commitment", False), bool):
                raise ValueError(f"{where}needs_commitment must be true or false")
            parts = [_term(t) for t in terms] + [to_simplified(p).replace("NUM", NUM) for p in patterns]
            own = _words(c, "commitment", where)
            if c.get("commitment_from", "all") not in ("all", "own") or (c.get("commitment_from") == "own"
                                                                          and not own):
                raise ValueError(f"{where}commitment_from is all or own (own needs commitment words)")
            cats.append(Category(str(name), str(c.get("label") or name), bool(c.get("needs_commitment", False)),
                                 _compile(parts, f"categories.{name}"),
                                 _compile([_term(t) for t in own], where + "commitment") if own else None,
                                 c.get("commitment_from") == "own"))
        commit = [_term(t) for t in _words(data, "commitment", "")] + _words(data, "commitment_patterns", "")
        neg = _words(data, "negation", "")
        exact = _words(data, "exact_words", "")
        return Policy(tuple(cats), _compile(commit or ["(?!)"], "commitment"),
                      _compile([_term(t) for t in neg] or ["(?!)"], "negation"),
                      _compile([_term(t) for t in exact], "exact_words") if exact else None, path)
    except (yaml.YAMLError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    """The policy shipped in the package."""
    f = resources.files(__package__).joinpath(POLICY_FILE)
    return parse_policy(f.read_text(encoding="utf-8"), f"(default) {POLICY_FILE}")


def default_policy_text() -> str:
    return resources.files(__package__).joinpath(POLICY_FILE).read_text(encoding="utf-8")


def load_policy(home: Path | str) -> Policy:
    """``<home>/promise_policy.yaml`` when there is one (re-read when it changes), else the default."""
    path = Path(home) / POLICY_FILE
    return read_home_file(path, lambda text: parse_policy(text, str(path)), default_policy)


class FlagLog(Protocol):
    """What the flagged-answer report reads (``Store``)."""

    def flagged_count(self, tenant: str, since: str | None = None) -> int: ...

    def flagged_answers(self, tenant: str, *, since: str | None = None, limit: int = 100) -> list[Any]: ...


def flagged_report(store: FlagLog, tenant: str, *, days: int = 30, limit: int = 50,
                   now: datetime | None = None) -> dict[str, Any]:
    """The tenant's answers of the last ``days`` days flagged for a promise: how many, how many flags of
    each category among the newest ``limit`` listed, and those answers with their flags."""
    since = ((now or datetime.now(UTC)) - timedelta(days=days)).isoformat(timespec="seconds")
    rows = store.flagged_answers(tenant, since=since, limit=limit)
    cats: Counter[str] = Counter(f["category"] for r in rows for f in r.promises)
    return {"since": since, "days": days, "count": store.flagged_count(tenant, since),
            "categories": dict(cats.most_common()),
            "answers": [{"id": r.id, "created_at": r.created_at, "ticket_id": r.ticket_id, "question": r.question,
                         "answer": r.answer, "engine": r.engine, "promises": r.promises} for r in rows]}
