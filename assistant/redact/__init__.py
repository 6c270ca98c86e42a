"""PII redaction: personal values in free text replaced by readable placeholders, counted by kind.

What is found, in this order (a later kind never looks inside an earlier kind's match):

* ``[邮箱]`` e-mail addresses;
* ``[身份证号]`` 18-digit resident ID numbers whose GB 11643 check digit (and province, birth date)
  hold; ``[银行卡号]`` 15–19-digit numbers that pass Luhn *and* either follow a card cue
  (``卡号``, ``银行卡``, ``信用卡``, ``card``…) or start with a known issuer's prefix at a length that
  issuer uses (UnionPay 62, Visa 4, Mastercard 51–55 and 2221–2720, Amex 34/37, JCB 35). A number
  after a serial or order cue (``序列号``, ``单号``, ``订单``, ``SN``, ``serial``…; the nearest cue
  wins) is never a card, Luhn or not. Both also when split by spaces or dashes
  (``6222 0212 3456 7890 128``). A number failing its check is kept: it is an order number, a serial
  number, something else;
* ``[IP地址]`` public IPv4 and IPv6 addresses. Private, loopback, link-local and documentation
  addresses (``192.168.1.1``, ``10.0.8.21``) identify nobody outside a LAN and are what setup guides
  quote, so they are kept, as are the well-known public DNS resolvers (``114.114.114.114``) and
  dotted numbers introduced as a version (``固件 2.1.0.12``);
* ``[手机号]`` mainland mobile numbers (``1[3-9]x``, 11 digits, optional ``+86``/``0086``, grouped by
  spaces or dashes); ``[电话]`` landlines with their area code (``010-12345678转123``). Hotlines such
  as 400/800/95xxx numbers are a company's, not a person's, and are kept;
* ``[姓名]``, ``[地址]``: the values the caller passes (``names=``, ``addresses=``, e.g. a ticket's
  customer), and names and addresses that a clear cue marks (``姓名：张三``, ``收件人 王五``,
  ``我叫赵六``, ``收货地址：北京市朝阳区…号``). An address after a cue is a run of address parts
  (``北京市`` ``朝阳区`` ``建国路`` ``88号院`` ``3 号楼`` ``501室``…) and ends with the last of them: a
  question particle (吗, 呢…), a chat word (不是, 可以, 的话…), a clause end or words that are no
  address part end it, and a value that starts like a sentence (``地址 是不是要填写``) is none.

Every kind has a maximum length (``MAX_LENGTH``, one table in ``kinds.py``); no rule ever replaces more.
Values the caller passes are bounded the same way (a longer "name" is not looked for).

Organisation contacts (a support mailbox, a service hotline) are not personal. The library owner
lists them in ``<home>/redaction.yaml`` (``load_allowlist(home)``; ``Library.redaction_allowlist``)::

    # contacts of the organisation: never redacted
    allow_emails:
      - ESUNPAY_cservice@esunpay.example     # one address (case-insensitive)
      - "*@support.example.com"              # every address of a domain
    allow_phones:
      - 0571-86001234                        # compared by digits; +86/0086 and an extension ignored
      - 13800138000

and the ``AllowList`` is passed as ``Redactor(allow=…)`` or ``redact(…, allow=…)``. A missing file
allows nothing; a malformed one is an error (``ConfigError``) naming the file.

Matching runs on a copy folded character by character (full-width digits, letters, ``＠`` and
punctuation to ASCII, dash variants to ``-``) of the same length, so offsets map back and the
replacement is made in the original text. Product and error codes (``RP-M227``, ``E-1024``,
``0x0000011b``, ``13.B2``), versions, dates and amounts are left alone. Redacting already redacted
text changes nothing.

The redacted values are never logged and never part of an exception message.

The package: ``kinds`` (the kinds, their bounds, the result), ``scan`` (the folded text and its
masking), ``numbers`` and ``people`` (the rules), ``allowlist`` (``redaction.yaml``), ``redactor``
(the ``Redactor`` and ``redact``).
"""

from .allowlist import ALLOWLIST_FILE, AllowList, load_allowlist
from .kinds import (
    ADDRESS,
    BANK_CARD,
    EMAIL,
    ID_NUMBER,
    IP,
    KINDS,
    LANDLINE,
    MAX_LENGTH,
    MOBILE,
    NAME,
    Redacted,
    add_counts,
    format_counts,
    placeholder,
)
from .redactor import Redactor, redact

__all__ = [
    "ADDRESS",
    "ALLOWLIST_FILE",
    "BANK_CARD",
    "EMAIL",
    "ID_NUMBER",
    "IP",
    "KINDS",
    "LANDLINE",
    "MAX_LENGTH",
    "MOBILE",
    "NAME",
    "AllowList",
    "Redacted",
    "Redactor",
    "add_counts",
    "format_counts",
    "load_allowlist",
    "placeholder",
    "redact",
]
