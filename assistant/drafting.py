"""From a closed ticket's conversation to a case draft, every sentence with the messages it came from.

The ``extractive`` drafter segments the conversation by role and cue, and writes nothing that was
not said in the ticket:

* problem: the customer's messages before the agent starts working on it (greetings and filler removed);
* diagnosis: the agent's checks, questions and findings, and the customer's answers to them or
  other statements of fact;
* solution: the agent's instructions, every item of a list the agent sends (a list is never cut), and
  the actions the agent took, up to the customer's closing confirmation (what the agent says after
  it is a sign-off: a note taken, a request for a rating);
* outcome: the customer's confirmation, thanks or rating, and the system's closing note.

A ticket that was not resolved is not drafted, and the reason is given: still open, no solution in
the conversation, transferred away, or the customer not satisfied (a rating of 1–2 stars or an
explicit complaint at the end). With an ``openai:`` model, the versioned ``prompts/draft.yaml`` asks
for JSON in the case schema with each sentence's message ids; an invalid reply gets one retry, then
a clear error.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import BackendError, InputError
from .text import LIST_MARK, normalise, sentences

SECTIONS = ("problem", "diagnosis", "solution", "outcome")

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
_ACTION = re.compile(r"请您?|麻烦您?|建议|需要您?|可以(帮您|为您|先|在|通过|直接|联系|重新)|进入|点击|打开|登录|设置"
                     r"|重新|重启|更新|升级|下载|安装|卸载|选择|输入|填写|联系|致电|拨打|提交|申请|下单|退回|补发"
                     r"|已为您|已经为您|已帮您|帮您|为您(办理|申请|关闭|开通|处理)|操作|步骤")
_FACT = re.compile(r"显示|提示|报错?|是|有|没有|不是|用的|型号|版本|已经|试过|换过|重启过|还是")
_CONFIRM = re.compile(r"好了|可以了|解决了?|成功|正常了|能用了|能打了|收到了|到账了|行了|搞定|OK|ok"
                      r"|谢谢|多谢|感谢|满意|评价\s*[45]\s*星")
# a list whose lead-in says it lists findings ("可能的原因有：") or asks for facts ("请提供以下信息：")
_LISTS_FINDINGS = re.compile(r"原因|可能是|可能有")
_LISTS_REQUEST = re.compile(r"提供|以下信息|告诉我|确认")
_QUESTION = re.compile(r"[？?]|吗|多久|多长时间|怎么|如何|什么时候|能不能|是不是")
_UNHAPPY = re.compile(r"投诉|不满意|霸王|没用|不行|差评|算了|不解决|评价\s*[12]\s*星|未解决")
_TRANSFER = re.compile(r"转接|转人工|转给|转交|转派|转单|升级(给|到)(二线|技术|专员|主管)"
                       r"|转到.{0,6}(部门|组|专员)|另行联系|稍后会有专人")
_PLACEHOLDER_ONLY = re.compile(r"^[\[\]【】\w:：,，x\s]*\[[^\]]*x\][\[\]【】\w:：,，x\s]*$")

# What a reviewer deletes from a case whatever its section, as a short clause of a chat line ("请稍等
# 马上帮您看看哦", "^_^小妹一定尽心尽力为您处理的哟", "我要转人工"): waiting, assurances and wishes,
# apologies, rating requests, asking for a human, order numbers and order cards, bare acknowledgements.
_NOISE = re.compile(
    r"稍等|稍候|稍微等|耐心等待|等待一(下|会)|正在(为|帮)您|正为您|马上(为|帮)您(查|看)|(帮|为)您(查看|看看|看下|查询|核实)一?下?的?[亲哦哈呢~]*$"
    r"|尽心尽力|很高兴|善解人意|应该做的|分内之事|荣幸|太客气|别客气|不客气|客气了|祝您|感谢您|谢谢您啦|辛苦您了|添麻烦|怠慢"
    r"|缘分|快马加鞭|理解您|随时(联系|咨询)|^放心[哈哦吧]*$|么么哒"
    r"|抱歉|报歉|对不起|不好意思|见谅|谅解|不便"
    r"|评价|红心|满意度|好评|打分"
    r"|转人工|人工服务|人工客服|在线客服"
    r"|订单号|订单编号|订单金额|下单时间|商品ID|信息发送|商品快照|是这个(订单|商品)|这个(订单|商品)吗|这单吗|核对下?商品|联系方式"
    r"|^(亲爱?的?|亲亲|亲爱[哒滴]|嗯+|哦+|恩+|好的?呢?|是的|对|在的|您好|你好|在吗|在不|有人么?|额)[哦哈呢啦亲~!！。]*$"
    r"|^(没|没有|没了|暂时没有|没事)(了|啦|呢)?[，,。!！\s]*((谢谢|多谢)(你|您)?(了|啦)?)?[，,。!！~\s]*$")
_NOISE_LEN = 20  # a longer clause carries content even when it holds one of those words
# a sentence that holds one of these is dropped whole: a rating request, an order card or product
# card, the agent's opening or closing offer of help, asking which order it is about
_NOISE_SENTENCE = re.compile(
    r"评价|红心|满意度|好评|信息发送|订单编号[:：]|订单金额|下单时间|商品快照|核实一下商品|需要咨询的订单|复制给我"
    r"|有什么.{0,6}(帮|效劳|为您)|还有(其他|什么|其它).{0,10}(帮|效劳|服务|需要)|方便说下您的问题|咨询之前的问题")
_BARE = re.compile(r"\[[^\[\]]*x\]|NaN|[\[\]\s:：\-,，.;；]")  # placeholders and punctuation only
# an agent asking the customer for something (an order number, a phone number, details): not a step
_REQUEST = re.compile(r"(^|[，,\s])(还|为了.{0,6})?(请|麻烦)您?再?(提供|告知)|给到我|发给我|号码多少|留下您的")
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
                     r"|\s+(?=[\u4e00-\u9fff\[]))")
_LATIN = re.compile(r"[A-Za-zÄÖÜäöüß]{3,}(?:\s+[A-Za-zÄÖÜäöüß]+){2}")
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
_CAUSE_EN = re.compile(r"\b(suspected cause|(may|might|could) be (due|caused)|root causes?|likely due|diagnostics"
                       r"|(have|had) (already )?(tried|attempted|verified|performed)"
                       r"|despite (trying|several|multiple))",
                       re.I)


@dataclass
class DraftSentence:
    section: str
    text: str
    sources: list[str]  # ids of the ticket messages it came from; empty: no source (marked for review)


@dataclass
class Draft:
    ticket_id: str
    title: str
    sentences: list[DraftSentence] = field(default_factory=list)
    severity: str = "P3"
    product: str = ""
    tags: list[tuple[str, float]] = field(default_factory=list)
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    skipped: str = ""  # why the ticket was not drafted; empty when it was
    engine: str = "extractive"

    def section(self, name: str) -> str:
        parts = [s.text for s in self.sentences if s.section == name]
        if name == "solution" and len(parts) > 1:
            return "\n".join(f"{i}. {p}" for i, p in enumerate(parts, 1))
        return "".join(p if p.endswith(("。", "！", "？", ".", "!", "?")) else p + "。" for p in parts)

    def case(self, case_id: str) -> dict[str, Any]:
        """The draft as a case record (``in_review``), in the DESIGN.md case model."""
        return {"kind": "case", "id": case_id, "title": self.title, **{s: self.section(s) for s in SECTIONS},
                "tags": [t for t, _ in self.tags], "product": self.product, "severity": self.severity,
                "source_tickets": [self.ticket_id], "status": "in_review"}

    @property
    def sourced_share(self) -> float:
        return sum(bool(s.sources) for s in self.sentences) / len(self.sentences) if self.sentences else 0.0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = [{"tag": t, "confidence": round(c, 3)} for t, c in self.tags]
        d.update({s: self.section(s) for s in SECTIONS})
        return d


def _messages(ticket: dict[str, Any]) -> list[dict[str, str]]:
    msgs = ticket.get("messages") or []
    if not isinstance(msgs, list) or not msgs:
        raise InputError(f"ticket {ticket.get('id', '?')}: no messages to draft from")
    # internal notes are for the helpdesk's agents: nothing of them may reach a case's text
    return [{"id": str(m.get("id") or f"m{i}"), "role": str(m.get("role") or ""), "text": str(m.get("text") or "")}
            for i, m in enumerate(msgs, 1) if not m.get("internal")]


_ACK = re.compile(r"^(很好|好的|好|嗯|OK|ok|没问题|太好了)[，,！!。]\s*")


def _items(text: str, *, agent: bool = False, clean: bool = True) -> list[tuple[str, bool]]:
    """Sentences of a message without greetings, filler or list numbering (the draft numbers its
    own), each with whether it was an item of a list. An agent's leading acknowledgement ("很好，请打印
    一张测试页确认") is not part of the step; a customer's ("好的，谢谢") is the outcome."""
    out = []
    for s in (x for line in _LINES.split(text) for x in sentences(line)):
        s = (s or "").strip()
        s = _GREETING.sub("", _clean(s) if clean else s)
        listed = bool(LIST_MARK.match(s))
        s = LIST_MARK.sub("", s).strip()
        if agent:
            s = _ACK.sub("", s).strip()
        if len(s) < 4 or _FILLER.search(normalise(s)) or _PLACEHOLDER_ONLY.match(s):
            continue
        out.append((s, listed))
    return out


def _clean(sentence: str) -> str:
    """A sentence without emoji and without its clauses that a reviewer would delete (``_NOISE``);
    an English or German sentence is kept or dropped whole."""
    sentence = _EMOJI.sub("", sentence).strip()
    if _LATIN.search(sentence):
        return "" if _NOISE_EN.search(sentence) else sentence
    if _NOISE_SENTENCE.search(normalise(sentence)):
        return ""
    end = re.search(r"[。！？!?；;]*$", sentence).group(0)  # type: ignore[union-attr]
    parts = _CLAUSE.split(sentence[:len(sentence) - len(end)])
    kept = [(c, sep) for c, sep in zip(parts[::2], [*parts[1::2], ""], strict=True)
            if _BARE.sub("", c) and not (len(c) <= _NOISE_LEN and _NOISE.search(normalise(c)))]
    text = "".join(c + sep for c, sep in kept).strip().rstrip("，、~～,").strip()
    return text + end if text else ""


def _asks(text: str) -> bool:
    """A question, not a consent check ("…可以吗")."""
    t = normalise(text)
    if re.search(r"(可以|好|行)吗[?？]?$", t):
        return False
    return bool(_QUESTION.search(t) or re.search(r"(?<![那这怎什多])么|嘛|吧$", t)
                or (re.search(r"(什么|哪|多少|是否|还是)", t) and re.search(r"[呢吗么][?？]?$", t)))


def _instruction(text: str) -> bool:
    """An agent's instruction or action, in Chinese, English or German; a request for details is not."""
    if _LATIN.search(text):
        return bool(_ACTION_EN.search(text)) and not _REQUEST_EN.search(text)
    return _has(_ACTION, text) and not _has(_REQUEST, text)


def _finding(text: str) -> bool:
    if _LATIN.search(text):
        return bool(_REQUEST_EN.search(text) or _CHECK_EN.search(text))
    return _has(_CHECK, text)


def _units(text: str) -> list[str]:
    return [s for s, _ in _items(text)]


def _has(pattern: re.Pattern[str], text: str) -> bool:
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
    if any(_has(_UNHAPPY, m["text"]) for m in tail):
        return "customer not satisfied (complaint at the end of the conversation)"
    if any(_has(_TRANSFER, m["text"]) for m in msgs[-3:] if m["role"] in ("agent", "system")):
        return "transferred away"
    if not any(_instruction(u) for m in msgs if m["role"] == "agent" for u in _units(m["text"])):
        return "no solution in the conversation"
    return ""


def draft_extractive(ticket: dict[str, Any], *, max_per_section: int = 6) -> Draft:
    """Segment a closed ticket's conversation into problem, diagnosis, solution and outcome."""
    msgs = _messages(ticket)
    tid = str(ticket.get("id") or "")
    d = Draft(ticket_id=tid, title="", severity=_severity(ticket.get("priority")),
              product=str(ticket.get("product") or ""))
    d.skipped = skip_reason(ticket, msgs)
    if d.skipped:
        return d
    first_customer = next((i for i, m in enumerate(msgs) if m["role"] == "customer" and _units(m["text"])), 0)
    first_agent = next((i for i, m in enumerate(msgs) if i > first_customer and m["role"] == "agent"
                        and _units(m["text"])), len(msgs))
    # what the agent says after the customer's closing confirmation ("测试页打出来了，太感谢了") is a
    # sign-off ("好的，已在工单中备注您的联系方式…"), not a step of the solution
    # (unless the customer's last message opens with a question the agent then answers)
    last_customer = max((i for i, m in enumerate(msgs) if m["role"] == "customer" and _units(m["text"])), default=-1)
    closing = _units(msgs[last_customer]["text"])[0] if last_customer > first_agent else ""
    signed_off = last_customer if _has(_CONFIRM, closing) and not _has(_QUESTION, closing) else len(msgs)
    sections: dict[str, list[DraftSentence]] = {s: [] for s in SECTIONS}
    in_list: list[int] = []  # per solution sentence: which of the agent's lists it belongs to (-1: none)
    asked = False  # the agent's last message asked the customer something, not yet answered
    lists = 0
    for i, m in enumerate(msgs):
        items = _items(m["text"], agent=m["role"] == "agent", clean=m["role"] != "system")
        list_id, list_role = -1, "solution"
        for n, (u, item) in enumerate(items):
            if m["role"] == "customer":
                if i < first_agent:
                    sec = "diagnosis" if _CAUSE_EN.search(u) else "problem"
                elif _asks(u):  # a follow-up question: neither a finding nor an outcome
                    continue
                elif _has(_CONFIRM, u) and i > first_agent:
                    sec = "outcome"
                elif i == signed_off:  # the rest of the closing message: a remark, not a finding
                    continue
                elif asked or (_has(_FACT, u) and not _has(_CONFIRM, u)):  # an answer states a fact
                    sec = "diagnosis"
                else:
                    continue
            elif m["role"] == "agent":
                if i > signed_off:
                    continue
                lead_in = n + 1 < len(items) and items[n + 1][1] and u.endswith(("：", ":"))
                if lead_in or (item and list_id < 0):  # a new list: its lead-in says what it lists
                    lists += 1
                    list_id = lists
                    # what the list is of: its lead-in, or the sentence it began in ("请提供：1）…；2）…")
                    intro = u if lead_in else items[n - 1][0] if n and ("：" in items[n - 1][0]
                                                                        or ":" in items[n - 1][0]) else ""
                    list_role = ("diagnosis" if _has(_LISTS_FINDINGS, intro) else
                                 "" if _has(_LISTS_REQUEST, intro) else "solution")
                elif not item:
                    list_id = -1
                if i >= first_agent and list_id > 0 and not u.endswith(("？", "?")):
                    if not list_role:  # what the agent asks the customer for is not a step
                        continue
                    sec = list_role  # every step of the agent's procedure, whatever its wording
                elif _has(_REQUEST, u) and not _LATIN.search(u):  # asking for an order or phone number
                    continue
                elif _instruction(u) and not u.endswith(("？", "?")) and not _asks(u) and i >= first_agent:
                    sec = "solution"
                elif _finding(u):
                    sec = "diagnosis"
                else:
                    continue
                if sec == "solution":
                    in_list.append(list_id)
            elif m["role"] == "system":
                sec = "outcome"
            else:
                continue
            sections[sec].append(DraftSentence(sec, u, [m["id"]]))
        if m["role"] == "agent" and items:
            asked = any(_has(_QUESTION, u) or u.endswith(("？", "?")) for u, _ in items)
        elif m["role"] == "customer" and items:
            asked = False  # the first reply answers; later messages are judged on their own
    sections["solution"] = _latest_instructions(sections["solution"], in_list, max_per_section)
    for s in ("problem", "diagnosis", "outcome"):
        sections[s] = sections[s][:max_per_section]
    d.sentences = [s for sec in SECTIONS for s in sections[sec]]
    d.title = _title(ticket, sections["problem"])
    if not sections["solution"]:
        d.skipped = "no solution in the conversation"
    return d


def _latest_instructions(sol: list[DraftSentence], in_list: list[int], limit: int) -> list[DraftSentence]:
    """The solution is what the agent said last that worked: the last ``limit`` instructions, except
    that the agent's last list of steps is kept whole and an earlier list is never cut in two (its
    first steps would be lost without a trace): a cut inside it moves past it."""
    start = max(0, len(sol) - limit)
    last = max((lid for lid in in_list if lid > 0), default=-1)
    if last > 0:
        start = min(start, in_list.index(last))
    while 0 < start < len(sol) and in_list[start] > 0 and in_list[start] == in_list[start - 1]:
        start += 1  # inside an earlier list: drop the rest of it
    return sol[start:]


def _severity(priority: Any) -> str:
    p = str(priority or "").upper()
    return p if p in ("P1", "P2", "P3", "P4") else "P3"


def _title(ticket: dict[str, Any], problem: Sequence[DraftSentence]) -> str:
    subject = str(ticket.get("subject") or "").strip()
    if subject:
        return subject[:80]
    text = problem[0].text if problem else "未命名问题"
    text = re.split(r"[，,。！？!?]", text)[0] if len(text) > 30 else text
    return text[:40]


def check_draft_json(raw: str, ticket: dict[str, Any]) -> Draft:
    """Validate a model's drafting reply against the case schema: JSON with ``title`` and a list of
    ``sentences`` (``section`` one of the four, ``text``, ``sources`` message ids of this ticket)."""
    msgs = {m["id"] for m in _messages(ticket)}
    text = raw.strip()
    if text.startswith("```"):
        text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not JSON: {e.msg}") from None
    if not isinstance(obj, dict) or not isinstance(obj.get("title"), str) or not obj["title"].strip():
        raise ValueError("missing a non-empty 'title'")
    sents = obj.get("sentences")
    if not isinstance(sents, list) or not sents:
        raise ValueError("missing 'sentences'")
    out = []
    for n, s in enumerate(sents):
        if not isinstance(s, dict) or s.get("section") not in SECTIONS or not isinstance(s.get("text"), str):
            raise ValueError(f"sentence {n}: needs a section ({', '.join(SECTIONS)}) and a text")
        sources = [str(x) for x in s.get("sources") or [] if str(x) in msgs]  # ids outside the ticket: no source
        out.append(DraftSentence(s["section"], s["text"].strip(), sources))
    if not any(s.section == "solution" for s in out):
        raise ValueError("no solution sentence")
    return Draft(ticket_id=str(ticket.get("id") or ""), title=obj["title"].strip()[:80], sentences=out,
                 severity=_severity(obj.get("severity") or ticket.get("priority")),
                 product=str(ticket.get("product") or ""))


def draft_with_model(ticket: dict[str, Any], chat: Any, model_name: str) -> Draft:
    """Draft with a chat model (``assistant.llm.ChatModel``): one retry on an invalid reply, then a
    clear error. Tickets that should not become cases are skipped before any model call."""
    import prompts

    msgs = _messages(ticket)
    reason = skip_reason(ticket, msgs)
    if reason:
        return Draft(ticket_id=str(ticket.get("id") or ""), title="", skipped=reason, engine=model_name)
    prompt = prompts.load("draft")
    conversation = "\n".join(f"[{m['id']}] {m['role']}: {m['text']}" for m in msgs)
    messages = prompt.render(subject=str(ticket.get("subject") or ""), conversation=conversation)
    error = ""
    for _attempt in range(2):
        if error:
            messages = [*messages, {"role": "user", "content": f"上一次的输出无效（{error}）。只输出符合要求的 JSON。"}]
        raw = chat.complete(messages)
        try:
            d = check_draft_json(raw, ticket)
        except ValueError as e:
            error = str(e)
            continue
        d.engine = f"{model_name} ({prompt.label})"
        return d
    raise BackendError(model_name, f"drafting reply invalid twice: {error}")
