"""What an id is, and what a title is: the one definition of each.

An id (of a case, article, ticket, draft or chat thread) is 1-200 characters after NFC normalisation,
with no white space, no control, format or other invisible character (a zero-width space, a NUL, a
bidi override, a BOM), no ``/``, ``\\`` or ``#`` (ids go into URL paths), no ``..``, and no leading
``.`` or ``-`` (a command line would take it for an option). Ids that look alike are then the same id
or an error, never two records. Imports, the HTTP API and the CLI all call ``check_id``; lookups
normalise the same way, so a decomposed ``é`` finds the record imported with a composed one.

A title is one line: ``one_line`` joins its line breaks and tabs (and drops other control characters)
into single spaces, so that list output never breaks.
"""

from __future__ import annotations

import re
import unicodedata

from .errors import InputError

MAX_ID_CHARS = 200
# What an id may not hold, as the ranges of one regular-expression class (the API publishes ID_PATTERN
# in its OpenAPI document): white space, controls (Cc), format characters (Cf: zero-width, bidi marks,
# overrides and isolates, BOM), noncharacters, letters and marks that render as nothing (Hangul
# fillers, the braille blank, the combining grapheme joiner, variation selectors), plane 14 (tags), and
# the characters URLs and chunk ids reserve. BMP ranges are \u escapes, astral ones literal characters
# (both read the same in Python and in JSON Schema's engines). Unassigned and private-use code points
# are let through: they show as a box, and a class of them would slow every fuzzed request tenfold.
_BMP = (r"\u0000-\u0020\u007f-\u00a0\u00ad\u034f\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2"
        r"\u115f\u1160\u1680\u180b-\u180f\u2000-\u200f\u2028-\u202f\u205f-\u206f\u2800\u3000\u3164"
        r"\ufe00-\ufe0f\ufeff\uffa0\ufff9-\ufffb\ufffe\uffff")
_ASTRAL = ((0x110BD, 0x110BD), (0x110CD, 0x110CD), (0x13430, 0x1343F), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
           (0xE0000, 0xE0FFF))
_DENIED = _BMP + "".join(chr(a) if a == b else f"{chr(a)}-{chr(b)}" for a, b in _ASTRAL)
_CHAR = rf"[^{_DENIED}./\\#]"  # any allowed character but '.'
_FIRST = rf"[^{_DENIED}./\\#-]"  # ... nor '-'
# no '..' (every '.' is followed by another character or ends the id), no leading '-' or '.' (a URL
# path drops a '.' segment)
ID_PATTERN = rf"^{_FIRST}(?:\.?{_CHAR})*\.?$"
_ID = re.compile(ID_PATTERN)
# surrogates too, which ID_PATTERN leaves out: JSON Schema's Rust regex engine refuses them, and only
# a broken client sends one (hypothesis and schemathesis never do)
_DENIED_CHAR = re.compile(rf"[{_DENIED}\ud800-\udfff]")
_BREAKS = re.compile(r"[ ]*[\x00-\x1f\x7f-\x9f\u2028\u2029]+[ ]*")


def _fault(rid: str) -> str | None:
    """Why ``rid`` (normalised, stripped) is not an id, or None."""
    if len(rid) <= MAX_ID_CHARS and _ID.fullmatch(rid) and not _DENIED_CHAR.search(rid):
        return None  # the common case in one pass: the checks below only name what is wrong
    if not rid:
        return "is empty"
    if len(rid) > MAX_ID_CHARS:
        return f"is {len(rid)} characters; the limit is {MAX_ID_CHARS}"
    for ch in rid:
        if _DENIED_CHAR.match(ch):
            return (f"holds white space ({_name(ch)}); an id has none" if ch.isspace()
                    else f"holds an invisible, control or reserved character ({_name(ch)})")
        if ch in "/\\#":
            return "holds '/', '\\' or '#'; an id has none of them"
    if ".." in rid:
        return "holds '..'"
    if rid.startswith("-"):
        return "starts with '-' (a command line would read it as an option)"
    if rid.startswith("."):
        return "starts with '.'"
    return None if _ID.fullmatch(rid) else "is not an id"  # the messages above name every way out


def _name(ch: str) -> str:
    return f"U+{ord(ch):04X} {unicodedata.name(ch, unicodedata.category(ch))}"


def normalise_id(value: str) -> str:
    """``value`` NFC-normalised and stripped of surrounding blanks: how ids are stored and looked up."""
    return unicodedata.normalize("NFC", value).strip()


def id_fault(value: str) -> str | None:
    """Why ``value`` is not a valid id (as it would be stored), or None when it is."""
    return _fault(normalise_id(value))


def check_id(value: str, what: str = "id") -> str:
    """``value`` as an id is stored and looked up (NFC, stripped), or an ``InputError`` naming the fault."""
    if not isinstance(value, str):
        raise InputError(f"{what} must be text")
    rid = normalise_id(value)
    fault = _fault(rid)
    if fault:
        shown = "" if not rid or len(rid) > MAX_ID_CHARS else f" {value!r}"  # no 201-character quote
        raise InputError(f"{what}{shown} {fault}".strip())
    return rid


def one_line(text: str) -> str:
    """``text`` on one line: each run of line breaks, tabs and other control characters (with the
    spaces around it) becomes one space."""
    return _BREAKS.sub(" ", text).strip()
