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

Every kind has a maximum length (``MAX_LENGTH``, one table below); no rule ever replaces more.
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
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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
_MAX_GROUPS = 6      # digit groups of one ID or card number


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


def _words(s: str) -> list[str]:
    return s.split()


def _alt(*groups: str) -> str:
    """A non-capturing alternation of the space-separated words of ``groups`` (longest first)."""
    words = sorted({w for g in groups for w in g.split()}, key=len, reverse=True)
    return "(?:" + "|".join(map(re.escape, words)) + ")"


# ---- folding ------------------------------------------------------------------------------------

_FOLD = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)}  # full-width ASCII → ASCII
_FOLD.update({0x3000: 0x20, 0xA0: 0x20, 0x202F: 0x20, 0x2007: 0x20, 0x2009: 0x20})
_FOLD.update({ord(c): ord("-") for c in "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"})


def fold(text: str) -> str:
    """Full-width forms to ASCII and dash variants to ``-``, one character for one character."""
    return text.translate(_FOLD)


# ---- validators ---------------------------------------------------------------------------------

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
_PROVINCES = frozenset(_words(
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


# ---- patterns (on the folded text) --------------------------------------------------------------

_MASK = "\ue000"  # stands in for text already claimed (a private-use character: no digit, no letter)
_PLACEHOLDER = re.compile(r"\[(?:" + "|".join(map(re.escape, KINDS)) + r")\]")
_EMAIL = re.compile(r"(?<![A-Za-z0-9._%+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]{0,63}"
                    r"@[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![A-Za-z0-9])")
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

_CJK = "\u3400-\u9fff\uf900-\ufaff"
_SURNAMES_2 = frozenset(_words("欧阳 司马 上官 诸葛 东方 皇甫 慕容 令狐 司徒 夏侯 尉迟 公孙 长孙 宇文 轩辕 端木")
                        + _words("歐陽 司馬 諸葛"))
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫严段雷侯龙史陶黎贺顾毛郝龚邵万钱覃武戴莫孔向汤常温康施文牛"
    "樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁"
    "冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米"
    "柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
    "張劉陳楊黃趙吳鄭謝許韓馮鄧蕭葉蘇呂盧鍾譚陸湯羅孫馬錢龔賀顧聶萬嚴閻魯賈鄒龍"
)
# words that end a name found after a cue (the label of the next field, an honorific, a verb)
_NAME_STOP = re.compile(_alt(
    "电话 電話 手机 手機 邮箱 郵箱 地址 身份 联系 聯繫 证件 證件 卡号 单号 先生 女士 小姐 老师 老師",
    "经理 經理 师傅 師傅 同学 同學 您好 你好 反馈 表示 来电 來電 说 說 的 是 在 要 想 和 跟 从 已"))
_LABEL_NAME = re.compile(_alt(
    "真实姓名 客户姓名 客戶姓名 联系人姓名 聯繫人姓名 姓名 联系人 聯繫人 收件人 收货人 收貨人 寄件人",
    "持卡人 开户人 開戶人 开户名 開戶名 户名 戶名 申请人 申請人 报修人 報修人 投诉人 投訴人 下单人") + r"\s*:\s*")
_SOFT_NAME = re.compile(r"(?:我叫|我的名字(?:是|叫)|本人姓名|(?:收件人|收货人|联系人|寄件人)(?:是|为| +))\s*")
# a name, not a word of a code or a network name (Li-Home, Kevin_01, a.b@c)
_LATIN_NAME = re.compile(r"[A-Z][a-z]{1,11}(?: [A-Z][a-z]{1,11}){0,2}(?![A-Za-z0-9_\-@]|\.[A-Za-z0-9])")
_ADDRESS_CUE = re.compile(_alt(
    "收货地址 收貨地址 收件地址 寄件地址 送货地址 送貨地址 配送地址 邮寄地址 郵寄地址 家庭住址 家庭地址",
    "联系地址 聯繫地址 通讯地址 通訊地址 通信地址 详细地址 詳細地址 居住地址",
    "户籍地址 戶籍地址 现住址 現住址 住址 新地址 地址")
    + r"\s*(?::|(?:是|为|為)\s*:?)\s*")  # 地址：, 地址是, 地址是:
# an address after a cue is a run of these parts (spaces between them allowed) and ends with the last
_UNIT = "号院 號院 号楼 號樓 号 號 弄 栋 棟 幢 楼 樓 层 層 室 单元 單元 座 期 巷 排 户 戶 段 门 門"
_PLACE = ("特别行政区 特別行政區 自治区 自治區 自治州 自治县 自治縣 省 市 区 區 县 縣 镇 鎮 乡 鄉 村 屯 组 組 "
          "街道 大道 大街 道 路 街 巷 弄 胡同 段 小区 小區 社区 社區 大厦 大廈 公寓 花园 花園 广场 廣場 中心 "
          "园区 園區 医院 醫院 大学 大學 学校 學校 院 苑 府 城 园 園 庭 湾 灣 坊 阁 閣 厂 廠 "
          + _UNIT)
# characters of a sentence, not of a place name (国内的英文网站, 我家这个小区)
_NOT_IN_PLACE = "[的了吗嗎呢吧是我你您他她它们們这這那哪什么麼怎个個有没沒想要请請问問]"
_ADDRESS_PART = re.compile(
    r"\d{1,6}[A-Za-z]?\s?" + _alt(_UNIT)            # 88号院, 1888 号, 12 楼, 501室
    + r"|[A-Za-z]\d{0,4}\s?" + _alt("座 栋 棟 幢 区 區 单元 單元 楼 樓")  # A座, B2栋
    + f"|(?:(?!{_NOT_IN_PLACE})[{_CJK}]){{0,10}}?" + _alt(_PLACE)  # 北京市, 朝阳区, 人民南路, 华西医院
    + r"|\d{1,6}(?:-\d{1,6}){0,2}(?![\d.])")           # a bare house / room number (after other parts)
_ADDRESS_MARK = re.compile(f"[{_CJK}]")  # a part with a Chinese character, not only a number
# words after which what follows is the customer's question, not an address
_ADDRESS_STOP = re.compile(r"[吗嗎呢吧啊呀嘛哦喔啦么麼？?]|" + _alt(
    "的话 的話 可以 能否 能不能 是否 是不是 不是 还是 還是 就是 怎么 怎麼 为什么 為什麼 什么 什麼 哪里 哪裡",
    "请问 請問 谢谢 謝謝 麻烦 麻煩 一下 帮我 幫我 我想 我要 需要 填写 填寫 修改 改成 改为 改為 没有 沒有",
    "现在 現在 已经 已經 收不到 不对 不對 错了 錯了"))
# a value that starts with one of these is a sentence, not an address (在同一个区的话, 不是要填写)
_NOT_ADDRESS_START = frozenset("在是不要的这這那哪我你您他她它们們同请請如和与與或等已还還都就也"
                               "没沒无無未能可会會该該啥")
_CLAUSE_END = re.compile(r"[，,。；;！!？?\n\r\ue000)）\t]|\s+[" + _CJK + r"A-Za-z]{1,6}\s*:|\[|\s{3,}")
# "地址" after these is a machine's or a page's address, not a person's
_NOT_ADDRESS_BEFORE = re.compile(r"(?:[A-Za-z]|" + _alt(
    "管理 服务器 伺服器 网关 網關 网页 網頁 网站 網站 邮箱 郵箱 链接 鏈接 下载 下載 接口 回调 登录 登錄 访问 訪問",
    "注册 註冊 物理 网络 網絡 内存 記憶體") + r")\s*$")
_DIGIT = re.compile(r"\d")
# the nearest of these before a Luhn-valid number decides: a card, or a serial / order number
_CARD_CUE = re.compile(_alt(
    "卡号 卡號 银行卡 銀行卡 信用卡 借记卡 借記卡 储蓄卡 儲蓄卡 银联卡 銀聯卡 卡尾号 银行账号 銀行賬號 银行帐号",
    "收款账号 收款賬號 开户账号 開戶賬號 card visa mastercard 万事达 萬事達 银联 銀聯"), re.IGNORECASE)
_SERIAL_CUE = re.compile(_alt(
    "序列号 序列號 序号 序號 单号 單號 订单 訂單 编号 編號 流水号 流水號 运单 運單 工单 工單 发票 發票 条码 條碼",
    "批次 型号 型號 串号 串號 机身号 機身號 激活码 激活碼 券码 券碼 卡密 imei meid serial order tracking invoice")
    + r"|(?<![A-Za-z])S/?N(?![A-Za-z])", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[，,。；;！!？?\n\r]")  # a cue is looked for within the number's clause
_CUE_BEFORE, _CUE_AFTER = 16, 8  # characters searched for a cue before and after a number

# any of the words that can introduce a name or an address (a cheap test before the cue patterns)
_ANY_CUE = re.compile(_alt("姓名 联系人 聯繫人 收件人 收货人 收貨人 寄件人 持卡人 开户 開戶 户名 戶名 申请人 申請人",
                           "报修人 報修人 投诉人 投訴人 下单人 我叫 名字 地址 住址"))
_ROLE_PREFIX = re.compile("^" + _alt("用户 用戶 客户 客戶 顾客 顧客 会员 會員 买家 買家") + r"\s*")
_CJK_RUN = re.compile(f"[{_CJK}·]{{1,12}}")
_NOT_NAME_START = frozenset("请請填无無空未不需必可见見同与與为為按如详詳略")
_NOT_NAMES = frozenset(_words("系统 系統 客服 用户 用戶 客户 客戶 顾客 顧客 买家 買家 卖家 賣家 会员 會員 "
                              "访客 訪客 匿名 "
                              "unknown system customer user client buyer guest visitor member agent anonymous"))


# ---- organisation contacts ---------------------------------------------------------------------

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


_ALLOW_CACHE: dict[Path, tuple[float, AllowList]] = {}


def load_allowlist(home: Path | str) -> AllowList:
    """The allow-list in ``<home>/redaction.yaml`` (empty when there is none); re-read when the file
    changes. A malformed file raises ``ConfigError`` naming the file (never its values)."""
    from .errors import ConfigError

    path = Path(home) / ALLOWLIST_FILE
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return AllowList()
    cached = _ALLOW_CACHE.get(path)
    if cached and cached[0] == mtime:
        return cached[1]
    import yaml

    try:
        data: Any = yaml.safe_load(path.read_text(encoding="utf-8-sig")) or {}
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
    except (OSError, UnicodeError, yaml.YAMLError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    _ALLOW_CACHE[path] = (mtime, allow)
    return allow


_KEEP = ""  # the kind of an allowed value: masked so no later rule looks inside it, but not replaced


@dataclass
class _Span:
    start: int
    end: int
    kind: str


class _Scan:
    """The folded text being searched; each value found is masked so later searches skip it."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.work = _PLACEHOLDER.sub(lambda m: _MASK * len(m.group(0)), fold(text))  # earlier redactions
        self.spans: list[_Span] = []

    def claim(self, found: Iterable[tuple[int, int, str]]) -> None:
        """Take the values ``(start, end, kind)`` that no earlier value overlaps, and mask them
        (in one pass, so that a text with thousands of values stays linear)."""
        taken: list[_Span] = []
        last = -1
        for start, end, kind in sorted(found):
            if start >= last and _MASK not in self.work[start:end]:
                taken.append(_Span(start, end, kind))
                last = end
        if not taken:
            return
        parts, pos = [], 0
        for sp in taken:
            parts += [self.work[pos: sp.start], _MASK * (sp.end - sp.start)]
            pos = sp.end
        parts.append(self.work[pos:])
        self.work = "".join(parts)
        self.spans += taken


class Redactor:
    """Finds and replaces personal values; see the module docstring for what and how.

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
            if not _ANY_CUE.search(fold(text)):
                continue
            for sp in self._find(text, (), ()):
                if sp.kind in (NAME, ADDRESS):
                    (names if sp.kind == NAME else addresses).add(text[sp.start: sp.end])
        return sorted(names), sorted(addresses)

    def _find(self, text: str, names: Iterable[str], addresses: Iterable[str]) -> list[_Span]:
        """The values to replace, by offset (the same in ``text`` and its folded copy), in order."""
        scan = _Scan(text)
        if "@" in scan.work:
            scan.claim((m.start(), m.end(), _KEEP if self.allow.allows_email(m.group(0)) else EMAIL)
                       for m in _EMAIL.finditer(scan.work) if m.end() - m.start() <= MAX_LENGTH[EMAIL])
        if _DIGIT.search(scan.work):
            self._numbers(scan)
        for kind, values in ((ADDRESS, addresses), (NAME, names)):
            for value in _variants(values, kind):
                self._claim_literal(scan, value, kind)
        n_given = len(scan.spans)
        if _ANY_CUE.search(scan.work):
            self._cued_addresses(scan)
            self._cued_names(scan)
        # a name or address a cue revealed is personal wherever else this text mentions it
        for kind, value in sorted({(sp.kind, fold(text[sp.start: sp.end])) for sp in scan.spans[n_given:]
                                   if sp.kind != _KEEP}):
            self._claim_literal(scan, value, kind)
        return sorted((sp for sp in scan.spans if sp.kind != _KEEP), key=lambda sp: sp.start)

    def _numbers(self, scan: _Scan) -> None:
        """ID and card numbers, IP addresses, mobile and landline numbers, in that order."""
        work = scan.work
        scan.claim(hit for m in _DIGIT_RUN.finditer(work)
                   for hit in self._numbers_in_run(m.group(0), m.start(), work))
        work = scan.work
        scan.claim((m.start(), m.end(), IP) for m in _IPV4.finditer(work)
                   if self._ipv4_is_personal(m.group(0), work[max(0, m.start() - 16): m.start()]))
        if ":" in scan.work:
            work = scan.work
            scan.claim((m.start(), m.end(), IP) for m in _IPV6.finditer(work) if self._ipv6_is_personal(m.group(0)))
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
                found.append((s, m.end(), _KEEP if self.allow.allows_phone(m.group(0)) else kind))
                prev_end = m.end()
            scan.claim(found)

    # ---- helpers ---------------------------------------------------------------------------------

    @staticmethod
    def _numbers_in_run(run: str, offset: int, work: str = "") -> list[tuple[int, int, str]]:
        """ID and card numbers made of whole consecutive groups (at most ``_MAX_GROUPS``) of a digit
        run, leftmost-longest. ``work``: the whole folded text, where the cues around a number are."""
        if sum(c.isdigit() for c in run) < 15:
            return []
        groups = [(g.start(), g.end(), g.group(0)) for g in _GROUP.finditer(run)]
        found: list[tuple[int, int, str]] = []
        i = 0
        while i < len(groups):
            hit = None
            digits = ""
            for j in range(i, min(len(groups), i + _MAX_GROUPS)):
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

    def _ipv4_is_personal(self, s: str, before: str) -> bool:
        try:
            ip = ipaddress.IPv4Address(s)
        except ValueError:
            return False  # an octet above 255, or leading zeros: a version or a code
        if s in _PUBLIC_RESOLVERS or _VERSION_CUE.search(before):
            return False
        return ip.is_global or not self.keep_private_ips

    def _ipv6_is_personal(self, s: str) -> bool:
        if "::" not in s and s.count(":") != 7:
            return False
        if sum(1 for g in s.split(":") if g) < 2:  # "::1138" is a number after a colon, not an address
            return False
        try:
            ip = ipaddress.IPv6Address(s)
        except ValueError:
            return False
        return ip.is_global or (not self.keep_private_ips and not ip.is_unspecified)

    @staticmethod
    def _claim_literal(scan: _Scan, value: str, kind: str) -> None:
        latin = value.isascii()
        if latin:
            # not glued to a number either: 13812345678Kevin would become a phone number once redacted
            pattern = re.compile(r"(?<![A-Za-z0-9])" + re.escape(value) + r"(?![A-Za-z0-9])", re.IGNORECASE)
        else:
            pattern = re.compile(re.escape(value))
        scan.claim((m.start(), m.end(), kind) for m in pattern.finditer(scan.work))

    @staticmethod
    def _cued_addresses(scan: _Scan) -> None:
        work = scan.work
        found = []
        for m in _ADDRESS_CUE.finditer(work):
            if _NOT_ADDRESS_BEFORE.search(work[max(0, m.start() - 6): m.start()]):
                continue
            start = m.end()
            n = _address_length(work, start)
            if n:
                found.append((start, start + n, ADDRESS))
        scan.claim(found)

    @staticmethod
    def _cued_names(scan: _Scan) -> None:
        work = scan.work
        found = []
        for cue, strict in ((_LABEL_NAME, False), (_SOFT_NAME, True)):
            for m in cue.finditer(work):
                start = m.end()
                latin = _LATIN_NAME.match(work, start)
                n = latin.end() - start if latin else _cjk_name_length(work, start, strict=strict)
                if n:
                    found.append((start, start + n, NAME))
        scan.claim(found)


def _address_length(work: str, start: int) -> int:
    """The length of the address that starts at ``start`` (after a cue), 0 for none: the address
    parts that follow one another (spaces between them allowed), up to a clause end, a question
    particle or chat word, or ``MAX_LENGTH[ADDRESS]``."""
    limit = start + MAX_LENGTH[ADDRESS]
    end_m = _CLAUSE_END.search(work, start, limit)
    limit = end_m.start() if end_m else min(len(work), limit)
    stop = _ADDRESS_STOP.search(work, start, limit)
    if stop:
        limit = stop.start()
    if limit - start < 3 or work[start] in _NOT_ADDRESS_START:
        return 0
    pos, end, places = start, start, 0
    while pos < limit:
        m = _ADDRESS_PART.match(work, pos)  # a part that does not fit whole ends the address before it
        if not m or m.end() == pos or m.end() > limit:
            break
        if m.group(0)[0] in _NOT_ADDRESS_START:
            break
        places += bool(_ADDRESS_MARK.search(m.group(0)))
        end = m.end()
        pos = end
        while pos < limit and pos - end < 2 and work[pos] == " ":
            pos += 1
    value = work[start:end]
    # an address has a place part (a number alone is none) and some length: 北京市, not 区
    if not places or len(value) < 3 or not _ADDRESS_MARK.search(value[0]):
        return 0
    return end - start


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


def _cjk_name_length(work: str, start: int, *, strict: bool) -> int:
    """The length of a Chinese name starting at ``start`` (0: none). ``strict`` (a soft cue such as
    我叫): the name must start with a common surname and is at most surname + two characters."""
    run_m = _CJK_RUN.match(work, start)
    if not run_m:
        return 0
    run = run_m.group(0)
    if run[0] in _NOT_NAME_START:
        return 0
    stop = _NAME_STOP.search(run, 1)
    if stop:
        run = run[: stop.start()]
    if strict:
        surname = 2 if run[:2] in _SURNAMES_2 else 1 if run[:1] in _SURNAMES else 0
        if not surname:
            return 0
        run = run[: surname + 2]
    return len(run) if 2 <= len(run) <= (4 if "·" not in run else 12) else 0


def _variants(values: Iterable[str], kind: str) -> list[str]:
    """The forms of given names or addresses to look for, folded, longest first: the value itself and,
    for names, without a trailing remark in brackets (陈女士（财务）→ 陈女士) or a role prefix."""
    out: set[str] = set()
    for raw in values:
        v = fold(str(raw or "")).strip()
        forms = {v}
        if kind == NAME:
            bare = re.sub(r"\s*\([^()]*\)\s*$", "", v).strip()
            forms |= {bare, _ROLE_PREFIX.sub("", bare).strip()}
        for f in forms:
            if f.lower() in _NOT_NAMES or _PLACEHOLDER.fullmatch(f):
                continue
            if (3 if f.isascii() else 2) <= len(f) <= MAX_LENGTH[kind]:
                out.add(f)
    return sorted(out, key=lambda s: (-len(s), s))


_DEFAULT = Redactor()


def redact(text: str, *, names: Iterable[str] = (), addresses: Iterable[str] = (),
           allow: AllowList | None = None) -> Redacted:
    """Redact ``text`` with the default ``Redactor``; ``names`` and ``addresses`` are values known
    to be personal (e.g. a ticket's customer) and are replaced wherever they occur; ``allow``: the
    library's organisation contacts, kept (``load_allowlist``)."""
    rd = Redactor(allow=allow) if allow else _DEFAULT
    return rd.redact(text, names=names, addresses=addresses)


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
