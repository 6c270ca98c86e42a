"""What each sentence of a ticket's conversation is: the cues (Chinese, and English or German) that
tell a problem from a finding, an instruction, a confirmation, a request for details, and the noise
a reviewer deletes (greetings, waiting, politeness, rating requests, emoji); and from them, whether a
ticket is worth a case at all (``skip_reason``)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..text import LIST_MARK, normalise, sentences

_LINES = re.compile(r"\n+|!@@@!|<sep>")  # message lines; each is cut into sentences by text.sentences
_FILLER = re.compile(
    r"^(您好|你好|在吗|在的|嗯+|哦+|好的?|好滴|亲爱?的?|亲爱哒|谢谢|多谢|感谢|收到|了解|明白|稍等|请稍等|不客气|没问题)[，,。！!~～\s]*$"
    r"|请问还有(其他|什么)|还有其他.{0,6}帮到您|很高兴为您服务|很抱歉给您带来不便|给您带来的?不便|祝您生活愉快|感谢您对.{0,10}的支持"
    r"|我是客服|我是.{1,4}[，,。]?请讲|为您服务|在线客服|人工客服|欢迎咨询|有什么(问题)?(我)?可以帮您|正在为您查询|请您稍等|真是我们莫大的荣幸"
    r"|应该做的|请讲|^请?(按|按照)(以下|如下|下面的?)(步骤|方法)(操作|处理|来)?[：:]?$",
)
_GREETING = re.compile(r"^(您好|你好|[\u4e00-\u9fff]{1,3}(先生|女士|小姐)?您好)[，,。！!\s]*")
_CHECK = re.compile(r"[？?]|确认|检查|查看|查询|查到|核实|看一下|看下|是否|是不是|有没有|什么型号"
                    r"|显示|发现|原因|因为|由于|导致|日志|定位|排查|测试|复现|记录")
_ACTION = re.compile(r"请您?|麻烦您?|建议|需要您?|[您你]可以|可以(帮您|为您|先|在|通过|直接|联系|重新)"
                     r"|进入|点击|打开|登录|设置|重新|重启|更新|升级|下载|安装|卸载|选择|输入|填写|联系|致电|拨打|提交|申请|下单|退回|补发"
                     r"|已为您|已经为您|已帮您|帮您|为您(办理|申请|关闭|开通|处理)|操作|步骤|-{2,}|—{2,}|→")
# an agent reporting what the records show ("这边看无法联系您", "订单已显示商品退回"): a finding even when
# it names an action, unless it also tells or offers the customer something (DIRECTIVE)
REPORT = re.compile(r"显示|这边看|查到|查询到|看到|核实(到|是)|^还没有|^目前还?没有?")
DIRECTIVE = re.compile(r"请|建议|可以|需要您|(帮|为|给)您|麻烦您|您(需要|要|可)|如果")
FACT = re.compile(r"显示|提示|报错?|是|有|没有|不是|用的|型号|版本|已经|试过|换过|重启过|还是")
FOLLOW_UP = re.compile(r"^那(?!好|行|就|谢|可以|ok|OK)|(?<![申邀])请|麻烦|帮我|帮忙|你帮|给我")
# an agent asking what the customer wants ("您是需要发送到邮箱吗?"): neither a finding nor a step
WANTS = re.compile(r"(需要|要|想)[^，,。]{0,10}[吗么嘛]|是(要|想|需要)")
# an agent urging a purchase ("建议您优先下单"): a sales push, not a solution
SALES = re.compile(r"(优先|尽快|放心|赶快|抓紧|早点|考虑)[^，,。]{0,4}(下单|购买|入手|拍下?)")
CONFIRM = re.compile(r"好了|可以了|解决了?|成功|正常了|能用了|能打了|收到了|到账了|行了|搞定|OK|ok"
                     r"|谢谢|多谢|感谢|满意|评价\s*[45]\s*星")
# a list whose lead-in says it lists findings ("可能的原因有：") or asks for facts ("请提供以下信息：")
LISTS_FINDINGS = re.compile(r"原因|可能是|可能有")
LISTS_REQUEST = re.compile(r"提供|以下信息|告诉我|确认")
QUESTION = re.compile(r"[？?]|吗|多久|多长时间|怎么|如何|什么时候|能不能|是不是")
# question words that QUESTION leaves to ``asks`` (a follow-up without "?": "有没备件可以用啊")
_ASKS = re.compile(r"为啥|为什么|怎样|咋|能否|可否|有没(?!有)|有无|哪(些|个|里|种|家)|多少")
_UNHAPPY = re.compile(r"投诉|不满意|霸王|没用|不行|差评|算了|不解决|评价\s*[12]\s*星|未解决")
_TRANSFER = re.compile(r"转接|转人工|转给|转交|转派|转单|升级(给|到)(二线|技术|专员|主管)"
                       r"|转到.{0,6}(部门|组|专员)|另行联系|稍后会有专人")
# a redaction placeholder ("[订单x]", "[数字x]"); a sentence of placeholders, Latin letters, digits and
# punctuation only says nothing, but one with Chinese words around a placeholder does ("预计[数字x]号给您送达")
_PLACEHOLDER = re.compile(r"\[[^\[\]]*x\]")
_PLACEHOLDER_REST = re.compile(r"^[\[\]【】A-Za-z0-9_:：,，.;；\-#\s]*$")

# What a reviewer deletes from a case whatever its section, as a short clause of a chat line ("请稍等
# 马上帮您看看哦", "^_^小妹一定尽心尽力为您处理的哟", "我要转人工"): waiting, assurances and wishes,
# apologies, rating requests, asking for a human, order numbers and order cards, bare acknowledgements.
_NOISE = re.compile(
    r"稍等|稍候|稍微等|耐心等待|等待一(下|会)|等一等|正在(为|帮)您|正为您|马上(为|帮)您(查|看)"
    r"|(帮|为)您(查看|看看|看|查|查询|核实)(一下|下)?的?[亲哦哈呢~#]*$|正在(联系|处理|核实|查询|查看)"
    # a promise of what will happen later, or a call to keep the phone on: waiting, not a step
    r"|尽快(和|与|给|为|帮)?您?(联系|回复|处理|配送|审核)|(给|和|与)您(联系|回复|回电)[的哦呢哈了]*$|处理时间"
    r"|保持(手机|电话)畅通|有结果.{0,4}(告知|通知)"
    r"|尽心尽力|很高兴|善解人意|应该做的|分内之事|荣幸|太客气|别客气|不客气|客气了|祝您|感谢您|谢谢您啦|辛苦您了|添麻烦|怠慢"
    r"|缘分|快马加鞭|理解您|随时(联系|咨询)|^放心[哈哦吧]*$|么么哒|^麻烦(您|你)了"
    r"|抱歉|报歉|对不起|不好意思|见谅|谅解|不便"
    r"|评价|红心|满意度|好评|打分"
    r"|转人工|人工服务|人工客服|在线客服|转.{0,4}客服"
    r"|[订定]单号|订单编号|订单金额|下单时间|商品ID|信息发送|商品快照|是这个(订单|商品)|这个(订单|商品)吗|这单吗|核对下?商品|联系方式"
    r"|^(亲爱?的?|亲亲|亲爱[哒滴]|嗯+|哦+|恩+|好的?呢?|是的|对|在|在的|您好|你好|在吗|在不|有人么?|额)[哦哈呢啦亲~!！。?？]*$"
    r"|^(没|没有|没了|暂时没有|没事)(了|啦|呢)?[，,。!！\s]*((谢谢|多谢)(你|您)?(了|啦)?)?[，,。!！~\s]*$"
    r"|^(暂时)?(没|没有)(其他|别的|其它)的?(问题|事情?)了?")
_FRAGMENT = 6  # shorter than this, the rest of a sentence whose noise was removed is dropped too
_NOISE_LEN = 20  # a longer clause carries content even when it holds one of those words
# a sentence that holds one of these is dropped whole: a rating request, an order card or product
# card, the agent's opening or closing offer of help, asking which order it is about
_NOISE_SENTENCE = re.compile(
    r"评价|红心|满意度|好评|信息发送|订单编号[:：]|订单金额|下单时间|商品快照|核实一下商品|需要咨询的订单|复制给我"
    r"|有什么.{0,6}(帮|效劳|为您)|还有(其他|什么|其它).{0,10}(帮|效劳|服务|需要)|方便说下您的问题|咨询之前的问题")
_UTTERANCE = re.compile(r"(?<=[\u4e00-\u9fff\]!！~～:：?？。])\s+(?=[\u4e00-\u9fff\[])")
_BARE = re.compile(r"\[[^\[\]]*x\]|NaN|[\[\]\s:：\-,，.;；]")  # placeholders and punctuation only
# an agent asking the customer for something (an order number, a phone number, details): not a step
REQUEST = re.compile(r"(^|[，,\s])(还|为了.{0,6})?(请|麻烦)您?再?(提供|告知)|给到我|发给我|号码多少|留下您的")
# the same in an English or German sentence
_NOISE_EN = re.compile(
    r"^(dear|hello|hi|to whom|customer support|support team|sehr geehrte|hallo|liebe)\b[^.!?]{0,40}[,:]?$"
    r"|^(<name>,?\s*)?(thank you|thanks|we appreciate|i appreciate|glad to|vielen dank|danke)\b"
    r"|^i (hope|trust) (this|that)|^ich hoffe|apologi[sz]e|\bsorry\b|entschuldig|^(best|kind) regards|^sincerely"
    r"|mit freundlichen grüßen|look forward to|further (questions|assistance)|hesitate to|your patience"
    r"|your understanding|greatly appreciated|would be grateful|would appreciate|in advance|values? your"
    r"|received your|acknowledge (the|your|receipt)|^we understand (how|the importance)"
    r"|(want|aim|are ready|are here|would be (happy|pleased)) to (help|assist|resolve|support|discuss)"
    r"|(schedule|arrange|set up) a (call|meeting|discussion)|(convenient|suitable|preferred) time|your availability"
    r"|earliest convenience|\b(rate|rating|survey)\b|this information will help|^with this information"
    r"|we (are|will be) (actively )?(investigating|looking into|working on)|will provide an update"
    r"|update (you )?(soon|shortly)", re.I)
_EMOJI = re.compile(r"[\U0001F000-\U0001FAFF\u2600-\u27BF\uFE0F\u200D]|O\(∩_∩\)O/?~*|\^_\^"
                    r"|~?\((?:&[gl]t;|[∩ω▽_^<>・\-\s])+\)~?")
# clause boundaries inside a chat line: Chinese commas, "~", and spaces next to Chinese text
_CLAUSE = re.compile(r"([，、~～]+\s*|,(?=\s*[\u4e00-\u9fff])\s*|(?<=[\u4e00-\u9fff\]!！~:：])\s+"
                     r"|(?<![0-9A-Za-z.%])\s+(?=[\u4e00-\u9fff\[]))")  # "24 小时" is one clause
LATIN = re.compile(r"[A-Za-zÄÖÜäöüß]{3,}(?:\s+[A-Za-zÄÖÜäöüß]+){2}")
# English and German cues: an instruction or an action taken; a request for details; a finding
_ACTION_EN = re.compile(
    r"\b(we (recommend|suggest|advise)|recommend|suggest|please (try|call|contact|visit|go to|click|select"
    r"|restart|reinstall|update|install|reset|clear|use|log ?in|sign in|follow)|call (our|us|the)"
    r"|contact (our|us at|the|<tel)|by contacting|you (can|may|should) "
    r"|we (have|'ve) (reset|updated|issued|refunded|fixed|resolved|credited|processed|sent|replaced)"
    r"|we will (send|ship|issue|refund|credit|replace|reset)"
    r"|bitte (versuchen|starten|rufen|kontaktieren|installieren|aktualisieren)|wir empfehlen|empfehlen wir"
    r"|sie können)", re.I)
_REQUEST_EN = re.compile(
    r"\b((could|can|would) you (please |kindly )?(provide|share|specify|send|confirm|tell|let us know|inform|describe)"
    r"|(please|kindly) (also )?(provide|share|specify|send us|include|confirm|let us know|inform us|describe)"
    r"|to (assist|help) you|to (better )?(understand|investigate)|have you (observed|tried|noticed)"
    r"|bitte (senden|teilen|geben|beschreiben) sie|können sie uns)", re.I)
_CHECK_EN = re.compile(r"\b(we are aware|appears?|caused by|due to|root cause|we (found|identified|noticed|determined)"
                       r"|likely|error|log)", re.I)
# what a customer's report says of causes and of what was tried: a finding, not the problem
CAUSE_EN = re.compile(r"\b(suspected cause|(may|might|could) be (due|caused)|root causes?|likely due|diagnostics"
                      r"|(have|had) (already )?(tried|attempted|verified|performed)"
                      r"|despite (trying|several|multiple))",
                      re.I)


_ACK = re.compile(r"^(很好|好的|好|嗯|OK|ok|没问题|太好了)[，,！!。]\s*")


def split_message(text: str, *, agent: bool = False, clean: bool = True) -> list[tuple[str, bool]]:
    """Sentences of a message without greetings, filler or list numbering (the draft numbers its
    own), each with whether it was an item of a list. An agent's leading acknowledgement ("很好，请打印
    一张测试页确认") is not part of the step; a customer's ("好的，谢谢") is the outcome."""
    out = []
    for s in (x for line in _LINES.split(text) for x in sentences(line)):
        s = (s or "").strip()
        s = _GREETING.sub("", _clean(s, agent=agent) if clean else s)
        listed = bool(LIST_MARK.match(s))
        s = LIST_MARK.sub("", s).strip()
        if agent:
            s = _ACK.sub("", s).strip()
        if len(s) < 4 or _FILLER.search(normalise(s)) or placeholder_only(s):
            continue
        out.append((s, listed))
    return out


def placeholder_only(text: str) -> bool:
    return bool(_PLACEHOLDER.search(text)) and bool(_PLACEHOLDER_REST.match(_PLACEHOLDER.sub("", text)))


def _clean(sentence: str, *, agent: bool = False) -> str:
    """A sentence without emoji and without its clauses that a reviewer would delete (``_NOISE``);
    an English or German sentence is kept or dropped whole."""
    sentence = _EMOJI.sub("", sentence).strip()
    if LATIN.search(sentence):
        return "" if _NOISE_EN.search(sentence) else sentence
    # a chat line often joins several utterances with spaces ("…请问有什么可以帮您的呢 一个带卡一个不带卡哦"):
    # a rating request or an offer of help takes only its own utterance with it
    sentence = " ".join(c for c in _UTTERANCE.split(sentence) if not _NOISE_SENTENCE.search(normalise(c)))
    if not sentence:
        return ""
    end = re.search(r"[。！？!?；;]*$", sentence).group(0)  # type: ignore[union-attr]
    parts = _CLAUSE.split(sentence[:len(sentence) - len(end)])
    kept = [(c, sep) for c, sep in zip(parts[::2], [*parts[1::2], ""], strict=True)
            if _BARE.sub("", c) and not (len(c) <= _NOISE_LEN and _NOISE.search(normalise(c)))]
    text = "".join(c + sep for c, sep in kept).strip().rstrip("，、~～,").strip()
    if agent and len(kept) < len(parts[::2]) and len(_BARE.sub("", text)) < _FRAGMENT:
        return ""  # what an agent leaves once the noise is gone ("确认一下", "可以吗") says nothing on its own
    return text + end if text else ""


def asks(text: str, *, customer: bool = False) -> bool:
    """A question; an agent's consent check ("…可以吗") is not one, a customer's is."""
    t = normalise(text)
    if not customer and re.search(r"(可以|好|行)吗[?？]?$", t):
        return False
    return bool(QUESTION.search(t) or (customer and _ASKS.search(t)) or t.startswith("请问")
                or re.search(r"(?<![那这怎什多])么|嘛|吧$", t)
                or (re.search(r"(什么|哪|多少|是否|还是)", t) and re.search(r"[呢吗么][?？]?$", t)))


def is_instruction(text: str) -> bool:
    """An agent's instruction or action, in Chinese, English or German; a request for details is not."""
    if LATIN.search(text):
        return bool(_ACTION_EN.search(text)) and not _REQUEST_EN.search(text)
    return has(_ACTION, text) and not has(REQUEST, text)


def is_finding(text: str) -> bool:
    if LATIN.search(text):
        return bool(_REQUEST_EN.search(text) or _CHECK_EN.search(text))
    return has(_CHECK, text)


def units(text: str) -> list[str]:
    return [s for s, _ in split_message(text)]


def has(pattern: re.Pattern[str], text: str) -> bool:
    """Cue patterns are written in simplified Chinese; traditional text is matched through ``normalise``."""
    return bool(pattern.search(normalise(text)))


def skip_reason(ticket: dict[str, Any], msgs: Sequence[dict[str, str]]) -> str:
    """Why a ticket should not become a case, or ``""`` when it should."""
    status = str(ticket.get("status") or "closed")
    if status not in ("closed", "resolved", "solved"):
        return f"ticket is {status}, not closed"
    csat = ticket.get("csat")
    if isinstance(csat, int | float) and csat <= 2:
        return f"customer not satisfied (rating {csat:g})"
    tail = [m for m in msgs if m["role"] in ("customer", "system")][-2:]
    if any(has(_UNHAPPY, m["text"]) for m in tail):
        return "customer not satisfied (complaint at the end of the conversation)"
    if any(has(_TRANSFER, m["text"]) for m in msgs[-3:] if m["role"] in ("agent", "system")):
        return "transferred away"
    if not any(is_instruction(u) for m in msgs if m["role"] == "agent" for u in units(m["text"])):
        return "no solution in the conversation"
    return ""

