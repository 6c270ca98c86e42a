"""Why a file is not UTF-8, in words an owner can act on: the byte and offset, and the legacy Chinese
encodings its bytes decode in (GBK and Big5 overlap: both may), with the ``iconv`` command that
converts it. Every loader (records, helpdesk exports, documents) says it the same way."""

from __future__ import annotations


def encoding_hint(raw: bytes) -> str:
    """Which Chinese legacy encoding ``raw`` decodes in, and how to convert it; "" when none."""
    fits = []
    for name, codec in (("GBK/GB18030", "GB18030"), ("Big5", "BIG5")):
        try:
            raw.decode(codec.lower())
            fits.append((name, codec))
        except UnicodeDecodeError:
            pass
    if not fits:
        return ""
    names = " or ".join(n for n, _ in fits)
    fixes = " or ".join(f"`iconv -f {c} -t UTF-8`" for _, c in fits)
    return f"; it looks like {names}: convert it with {fixes}"


def not_utf8(raw: bytes, e: UnicodeDecodeError) -> str:
    """The message for ``raw``, which failed to decode as UTF-8 with ``e``."""
    return f"not UTF-8 (byte 0x{raw[e.start]:02x} at offset {e.start}){encoding_hint(raw)}"
