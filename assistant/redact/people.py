"""Names and addresses: the ones the caller gives (a ticket's customer), and the ones a clear cue marks
(``姓名：张三``, ``我叫赵六``, ``收货地址：北京市朝阳区…号``). An address after a cue is a run of address
parts that ends with the last of them, never at the cost of the customer's next words."""

from __future__ import annotations

import re
from collections.abc import Iterable

from .kinds import ADDRESS, MAX_LENGTH, NAME
from .scan import PLACEHOLDER, Scan, alt, fold, words

_CJK = "\u3400-\u9fff\uf900-\ufaff"
_SURNAMES_2 = frozenset(words("欧阳 司马 上官 诸葛 东方 皇甫 慕容 令狐 司徒 夏侯 尉迟 公孙 长孙 宇文 轩辕 端木")
                       + words("歐陽 司馬 諸葛"))
_SURNAMES = frozenset(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔"
    "钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫严段雷侯龙史陶黎贺顾毛郝龚邵万钱覃武戴莫孔向汤常温康施文牛"
    "樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁"
    "冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦麦褚娄窦戚岑景党宫费卜冷晏席卫米"
    "柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩明佘池查麻苑迟邝"
    "張劉陳楊黃趙吳鄭謝許韓馮鄧蕭葉蘇呂盧鍾譚陸湯羅孫馬錢龔賀顧聶萬嚴閻魯賈鄒龍"
)
# words that end a name found after a cue (the label of the next field, an honorific, a verb)
_NAME_STOP = re.compile(alt(
    "电话 電話 手机 手機 邮箱 郵箱 地址 身份 联系 聯繫 证件 證件 卡号 单号 先生 女士 小姐 老师 老師",
    "经理 經理 师傅 師傅 同学 同學 您好 你好 反馈 表示 来电 來電 说 說 的 是 在 要 想 和 跟 从 已",
    "我叫 我的名字 本人姓名"))  # a soft cue starts the next name
_LABEL_NAME = re.compile(alt(
    "真实姓名 客户姓名 客戶姓名 联系人姓名 聯繫人姓名 姓名 联系人 聯繫人 收件人 收货人 收貨人 寄件人",
    "持卡人 开户人 開戶人 开户名 開戶名 户名 戶名 申请人 申請人 报修人 報修人 投诉人 投訴人 下单人") + r"\s*:\s*")
_SOFT_NAME = re.compile(r"(?:我叫|我的名字(?:是|叫)|本人姓名|(?:收件人|收货人|联系人|寄件人)(?:是|为| +))\s*")
# a name, not a word of a code or a network name (Li-Home, Kevin_01, a.b@c)
_LATIN_NAME = re.compile(r"[A-Z][a-z]{1,11}(?: [A-Z][a-z]{1,11}){0,2}(?![A-Za-z0-9_\-@]|\.[A-Za-z0-9])")
_ADDRESS_CUE = re.compile(alt(
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
    r"\d{1,6}[A-Za-z]?\s?" + alt(_UNIT)            # 88号院, 1888 号, 12 楼, 501室
    + r"|[A-Za-z]\d{0,4}\s?" + alt("座 栋 棟 幢 区 區 单元 單元 楼 樓")  # A座, B2栋
    + f"|(?:(?!{_NOT_IN_PLACE})[{_CJK}]){{0,10}}?" + alt(_PLACE)  # 北京市, 朝阳区, 人民南路, 华西医院
    + r"|\d{1,6}(?:-\d{1,6}){0,2}(?![\d.])")           # a bare house / room number (after other parts)
_ADDRESS_MARK = re.compile(f"[{_CJK}]")  # a part with a Chinese character, not only a number
# words after which what follows is the customer's question, not an address
_ADDRESS_STOP = re.compile(r"[吗嗎呢吧啊呀嘛哦喔啦么麼？?]|" + alt(
    "的话 的話 可以 能否 能不能 是否 是不是 不是 还是 還是 就是 怎么 怎麼 为什么 為什麼 什么 什麼 哪里 哪裡",
    "请问 請問 谢谢 謝謝 麻烦 麻煩 一下 帮我 幫我 我想 我要 需要 填写 填寫 修改 改成 改为 改為 没有 沒有",
    "现在 現在 已经 已經 收不到 不对 不對 错了 錯了"))
# a value that starts with one of these is a sentence, not an address (在同一个区的话, 不是要填写)
_NOT_ADDRESS_START = frozenset("在是不要的这這那哪我你您他她它们們同请請如和与與或等已还還都就也"
                               "没沒无無未能可会會该該啥")
_CLAUSE_END = re.compile(r"[，,。；;！!？?\n\r\ue000)）\t]|\s+[" + _CJK + r"A-Za-z]{1,6}\s*:|\[|\s{3,}")
# "地址" after these is a machine's or a page's address, not a person's
_NOT_ADDRESS_BEFORE = re.compile(r"(?:[A-Za-z]|" + alt(
    "管理 服务器 伺服器 网关 網關 网页 網頁 网站 網站 邮箱 郵箱 链接 鏈接 下载 下載 接口 回调 登录 登錄 访问 訪問",
    "注册 註冊 物理 网络 網絡 内存 記憶體") + r")\s*$")

# any of the words that can introduce a name or an address (a cheap test before the cue patterns)
ANY_CUE = re.compile(alt("姓名 联系人 聯繫人 收件人 收货人 收貨人 寄件人 持卡人 开户 開戶 户名 戶名 申请人 申請人",
                         "报修人 報修人 投诉人 投訴人 下单人 我叫 名字 地址 住址"))
_ROLE_PREFIX = re.compile("^" + alt("用户 用戶 客户 客戶 顾客 顧客 会员 會員 买家 買家") + r"\s*")
_CJK_RUN = re.compile(f"[{_CJK}·]{{1,12}}")
_NOT_NAME_START = frozenset("请請填无無空未不需必可见見同与與为為按如详詳略")
_NOT_NAMES = frozenset(words("系统 系統 客服 用户 用戶 客户 客戶 顾客 顧客 买家 買家 卖家 賣家 会员 會員 "
                             "访客 訪客 匿名 "
                             "unknown system customer user client buyer guest visitor member agent anonymous"))


def find_cued_addresses(scan: Scan) -> None:
    """Claim the addresses that follow an address cue (``收货地址：``, ``地址是``)."""
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


def find_cued_names(scan: Scan) -> None:
    """Claim the names that follow a label (``姓名：``, ``收件人 ``) or a soft cue (``我叫``)."""
    work = scan.work
    found = []
    for cue, strict in ((_LABEL_NAME, False), (_SOFT_NAME, True)):
        for m in cue.finditer(work):
            start = m.end()
            soft = None if strict else _SOFT_NAME.match(work, start)
            if soft:  # 姓名：我叫小明: the name after the soft cue, by the label's looser rule
                start = soft.end()
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


def variants(values: Iterable[str], kind: str) -> list[str]:
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
            if f.lower() in _NOT_NAMES or PLACEHOLDER.fullmatch(f):
                continue
            if (3 if f.isascii() else 2) <= len(f) <= MAX_LENGTH[kind]:
                out.add(f)
    return sorted(out, key=lambda s: (-len(s), s))

