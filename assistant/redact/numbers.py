"""Numbers that identify a person: resident ID and bank card numbers (each checked: a number failing
its check digit is an order number, a serial, something else), public IP addresses, and mainland mobile
and landline numbers. ``find_numbers`` claims them on a ``Scan`` in that order."""

from __future__ import annotations

import ipaddress
import re

from .allowlist import AllowList
from .kinds import BANK_CARD, ID_NUMBER, IP, LANDLINE, MOBILE
from .scan import KEEP, Scan, alt, words

MAX_GROUPS = 6      # digit groups of one ID or card number

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PROVINCES = frozenset(words(
    "11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46 50 51 52 53 54 61 62 63 64 65 71 81 82 83 91"))


def valid_id_number(s: str) -> bool:
    """An 18-character resident ID number: province code, a plausible birth date, GB 11643 check digit."""
    if len(s) != 18 or not s[:17].isdigit() or s[17] not in "0123456789Xx" or s[:2] not in _PROVINCES:
        return False
    year, month, day = int(s[6:10]), int(s[10:12]), int(s[12:14])
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31):
        return False
    check = _ID_CHECK[sum(int(c) * w for c, w in zip(s[:17], _ID_WEIGHTS, strict=True)) % 11]
    return s[17].upper() == check


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def valid_bank_card(digits: str) -> bool:
    """A number that can be a card: 15–19 digits passing Luhn. Alone this is not enough to redact
    it (one number in ten passes Luhn): see ``known_issuer`` and the cues in ``Redactor``."""
    return 15 <= len(digits) <= 19 and digits.isdigit() and luhn_ok(digits)


# the issuers whose prefix alone makes a Luhn-valid number a card, with the lengths they issue
_ISSUERS: tuple[tuple[re.Pattern[str], frozenset[int]], ...] = (
    (re.compile(r"62"), frozenset({16, 17, 18, 19})),                          # UnionPay
    (re.compile(r"4"), frozenset({16, 19})),                                   # Visa
    (re.compile(r"5[1-5]|222[1-9]|22[3-9]\d|2[3-6]\d\d|27[01]\d|2720"), frozenset({16})),  # Mastercard
    (re.compile(r"3[47]"), frozenset({15})),                                   # Amex
    (re.compile(r"35(?:2[89]|[3-8]\d)"), frozenset({16, 17, 18, 19})),          # JCB
)


def known_issuer(digits: str) -> bool:
    """The number starts with a known issuer's prefix and has a length that issuer uses."""
    return any(p.match(digits) and len(digits) in lengths for p, lengths in _ISSUERS)


_PUBLIC_RESOLVERS = frozenset({
    "114.114.114.114", "114.114.115.115", "223.5.5.5", "223.6.6.6", "119.29.29.29", "180.76.76.76",
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "208.67.222.222", "208.67.220.220",
})


# a run of digit groups separated by one dash or one or two spaces, possibly ending in X (ID numbers);
# not part of a code (E-1024, 0x0000011b, 13.B2) or of a decimal number; after an ID number's X and a
# dash it starts a new number (…002X-110105…), as it does once the first is redacted ([身份证号]-110105…)
_DIGIT_RUN = re.compile(r"(?<![0-9A-Za-z_.])(?<![A-WYZa-wyz]-)(?<![^\d][Xx]-)(?<!^[Xx]-)"
                        r"\d+(?:(?: {1,2}|-)\d+)*[Xx]?(?![0-9A-Za-z_])(?!\.\d)")
_GROUP = re.compile(r"\d+[Xx]?")
_IPV4 = re.compile(r"(?<![0-9A-Za-z_.])(?:\d{1,3}\.){3}\d{1,3}(?![0-9A-Za-z_])(?!\.\d)")
_IPV6 = re.compile(r"(?<![0-9A-Za-z_:.])(?=[0-9A-Fa-f:]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{3,39}(?![0-9A-Za-z_:])")
_VERSION_CUE = re.compile(r"(?:(?<![A-Za-z])v|(?<![A-Za-z])ver\.?|version|版本号?|固件|firmware|build|驱动|系统)"
                          r"\s*(?:号|为|是|:)?\s*$", re.IGNORECASE)
_MOBILE = re.compile(r"(?<![0-9A-Za-z_+])(?:(?:\+|00)?86[ -]?|\(\+?86\)[ -]?)?"
                     r"1[3-9]\d(?:[ -]?\d{4}){2}(?![0-9A-Za-z_])")
_LANDLINE = re.compile(r"(?<![0-9A-Za-z_+])(?:(?:\+|00)86[ -]?)?"
                       r"(?:\(0[1-9]\d{1,2}\)[ -]?|0[1-9]\d{1,2}[ -]?)[1-9]\d{2,3}[ -]?\d{4}"
                       r"(?:(?: ?(?:转|ext\.?|x|#) ?|-)\d{1,6})?(?![0-9A-Za-z_])")
# the nearest of these before a Luhn-valid number decides: a card, or a serial / order number
_CARD_CUE = re.compile(alt(
    "卡号 卡號 银行卡 銀行卡 信用卡 借记卡 借記卡 储蓄卡 儲蓄卡 银联卡 銀聯卡 卡尾号 银行账号 銀行賬號 银行帐号",
    "收款账号 收款賬號 开户账号 開戶賬號 card visa mastercard 万事达 萬事達 银联 銀聯"), re.IGNORECASE)
_SERIAL_CUE = re.compile(alt(
    "序列号 序列號 序号 序號 单号 單號 订单 訂單 编号 編號 流水号 流水號 运单 運單 工单 工單 发票 發票 条码 條碼",
    "批次 型号 型號 串号 串號 机身号 機身號 激活码 激活碼 券码 券碼 卡密 imei meid serial order tracking invoice")
    + r"|(?<![A-Za-z])S/?N(?![A-Za-z])", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[，,。；;！!？?\n\r]")  # a cue is looked for within the number's clause
_CUE_BEFORE, _CUE_AFTER = 16, 8  # characters searched for a cue before and after a number


def find_numbers(scan: Scan, *, keep_private_ips: bool, allow: AllowList) -> None:
    """Claim ID and card numbers, IP addresses, mobile and landline numbers, in that order.
    ``keep_private_ips``: keep private, loopback, link-local and documentation addresses; ``allow``:
    phone numbers of the organisation, masked but not replaced."""
    work = scan.work
    scan.claim(hit for m in _DIGIT_RUN.finditer(work)
               for hit in _numbers_in_run(m.group(0), m.start(), work))
    work = scan.work
    scan.claim((m.start(), m.end(), IP) for m in _IPV4.finditer(work)
               if _ipv4_is_personal(m.group(0), work[max(0, m.start() - 16): m.start()], keep_private_ips))
    if ":" in scan.work:
        work = scan.work
        scan.claim((m.start(), m.end(), IP) for m in _IPV6.finditer(work)
                   if _ipv6_is_personal(m.group(0), keep_private_ips))
    for pattern, kind in ((_MOBILE, MOBILE), (_LANDLINE, LANDLINE)):
        work = scan.work
        found: list[tuple[int, int, str]] = []
        prev_end = -2
        for m in pattern.finditer(work):
            s = m.start()
            # not the tail of a longer grouped number (6222 1381…), unless that number is the
            # phone just found: two numbers written side by side ("138… 139…")
            if s >= 2 and work[s - 1] in " -" and _group_before(work, s - 1) == 4 and prev_end != s - 1:
                continue
            found.append((s, m.end(), KEEP if allow.allows_phone(m.group(0)) else kind))
            prev_end = m.end()
        scan.claim(found)


def _numbers_in_run(run: str, offset: int, work: str = "") -> list[tuple[int, int, str]]:
    """ID and card numbers made of whole consecutive groups (at most ``MAX_GROUPS``) of a digit
    run, leftmost-longest. ``work``: the whole folded text, where the cues around a number are."""
    if sum(c.isdigit() for c in run) < 15:
        return []
    groups = [(g.start(), g.end(), g.group(0)) for g in _GROUP.finditer(run)]
    found: list[tuple[int, int, str]] = []
    i = 0
    while i < len(groups):
        hit = None
        digits = ""
        for j in range(i, min(len(groups), i + MAX_GROUPS)):
            part = groups[j][2]
            if part[-1] in "Xx" and j < len(groups) - 1:
                break  # an X only ends a run
            digits += part
            if len(digits) > 19:
                break
            if len(digits) < 15:
                continue
            if len(digits) == 18 and valid_id_number(digits):
                hit = (j, ID_NUMBER)
            elif digits.isdigit() and valid_bank_card(digits) and _is_card(
                    digits, work, offset + groups[i][0], offset + groups[j][1]):
                hit = (j, BANK_CARD)
        if hit is None:
            i += 1
            continue
        j, kind = hit
        found.append((offset + groups[i][0], offset + groups[j][1], kind))
        i = j + 1
    return found


def _ipv4_is_personal(s: str, before: str, keep_private_ips: bool) -> bool:
    try:
        ip = ipaddress.IPv4Address(s)
    except ValueError:
        return False  # an octet above 255, or leading zeros: a version or a code
    if s in _PUBLIC_RESOLVERS or _VERSION_CUE.search(before):
        return False
    return ip.is_global or not keep_private_ips


def _ipv6_is_personal(s: str, keep_private_ips: bool) -> bool:
    if "::" not in s and s.count(":") != 7:
        return False
    if sum(1 for g in s.split(":") if g) < 2:  # "::1138" is a number after a colon, not an address
        return False
    try:
        ip = ipaddress.IPv6Address(s)
    except ValueError:
        return False
    return ip.is_global or (not keep_private_ips and not ip.is_unspecified)


def _is_card(digits: str, work: str, start: int, end: int) -> bool:
    """A Luhn-valid number is a card after a card cue, or, with no cue, with a known issuer's prefix
    and length; after a serial or order cue it never is. The nearest cue before the number decides;
    with none before, one just after it (``6222… 是我的卡号``)."""
    before = _SENTENCE_END.split(work[max(0, start - _CUE_BEFORE): start])[-1]
    cues = [(m.end(), True) for m in _CARD_CUE.finditer(before)]
    cues += [(m.end(), False) for m in _SERIAL_CUE.finditer(before)]
    if not cues:
        after = _SENTENCE_END.split(work[end: end + _CUE_AFTER])[0]
        cues = [(-m.start(), True) for m in _CARD_CUE.finditer(after)]
        cues += [(-m.start(), False) for m in _SERIAL_CUE.finditer(after)]
    if cues:
        return max(cues)[1]
    return known_issuer(digits)


def _group_before(text: str, end: int) -> int:
    """The length of the run of digits that ends just before ``end``: a card or ID number written
    in groups of four is what a phone-like tail must not be cut out of. A run that belongs to a code
    (``T-2024-0301``: letters before the digit groups) counts as 0."""
    i = end
    while i > 0 and text[i - 1].isdigit():
        i -= 1
    j = i
    while j > 0 and (text[j - 1].isdigit() or text[j - 1] in " -"):
        j -= 1
    if j > 0 and text[j - 1].isascii() and text[j - 1].isalpha():
        return 0
    return end - i
