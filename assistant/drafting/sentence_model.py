"""The learned check on each drafted sentence: what a sentence of a conversation looks like to a
small per-section logistic model (who said it, where, which cues it carries, its length and its
hashed character n-grams), and the shipped models (``models/draft_sentences.json``, trained by
``python -m evals.train_drafts``) that keep a drafted sentence only when it is likely of its section."""

from __future__ import annotations

import math
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from ..logistic import LogisticModel, read_models
from ..text import normalise
from .cues import (
    CAUSE_EN,
    CONFIRM,
    DIRECTIVE,
    FACT,
    FOLLOW_UP,
    LATIN,
    QUESTION,
    REPORT,
    REQUEST,
    SALES,
    WANTS,
    asks,
    has,
    is_finding,
    is_instruction,
    units,
)

MODEL_FILE = "draft_sentences.json"
BUCKETS = 256  # hashed character unigrams and bigrams
# what a reviewer keeps in no section, in words the rules do not all list (menu entries typed as the
# first line, hand-overs to a specialist, thanks); features, not rules: the model weighs them
_MENU = re.compile(r"(业务|类)?咨询$|^之前的问题|^订单|^售后|^物流|^发票")
_HANDOVER = re.compile(r"专员|反馈(给|到)|申请.{0,4}处理|升级|上报")
_THANKS = re.compile(r"谢谢|多谢|感谢|thank", re.I)
_PLACE = re.compile(r"\[[^\[\]]*x\]")
_FIELD = re.compile(r"[:：]\s*\[[^\[\]]*x\]")  # "售后服务单号:[数字x]": a form field, not a sentence
_CUES: dict[str, re.Pattern[str] | Callable[[str], bool]] = {
    "instruction": is_instruction, "finding": is_finding,
    "report": REPORT, "directive": DIRECTIVE, "fact": FACT, "follow_up": FOLLOW_UP, "wants": WANTS,
    "sales": SALES, "confirm": CONFIRM, "question": QUESTION, "request": REQUEST, "menu": _MENU,
    "handover": _HANDOVER, "thanks": _THANKS,
}
ROLES = ("customer", "agent", "system")
FEATURES: tuple[str, ...] = (
    *(f"role_{r}" for r in ROLES),
    "position", "first_customer", "before_agent", "last_customer", "after_last_customer",
    "asks", "customer_asks", "latin", "cause_en", *(f"cue_{c}" for c in _CUES),
    "log_length", "short", "digits", "placeholder", "placeholder_share", "field", "ends_question", "ends_colon",
    *(f"g{b:03d}" for b in range(BUCKETS)),
)


@dataclass(frozen=True)
class Context:
    """Where a message stands in its conversation."""

    position: float  # 0 for the first message, 1 for the last
    role: str
    first_customer: bool  # the customer's first message with content
    before_agent: bool  # before the agent's first message with content
    last_customer: bool
    after_last_customer: bool


def contexts(msgs: Sequence[Mapping[str, str]]) -> list[Context]:
    has_text = [bool(units(m["text"])) for m in msgs]
    cust = [i for i, m in enumerate(msgs) if m["role"] == "customer" and has_text[i]]
    first = cust[0] if cust else -1
    last = cust[-1] if cust else -1
    agent = next((i for i, m in enumerate(msgs) if i > first and m["role"] == "agent" and has_text[i]), len(msgs))
    n = max(1, len(msgs) - 1)
    return [Context(i / n, m["role"], i == first, i < agent, i == last, i > last) for i, m in enumerate(msgs)]


def features(text: str, ctx: Context) -> dict[str, float]:
    """The features of one sentence. What the rules made of it is not one: they were written on the
    annotated conversations the models learn from, so in-sample they look more right than they are."""
    t = normalise(text)
    f: dict[str, float] = {f"role_{ctx.role}": 1.0}
    f.update(position=ctx.position, first_customer=float(ctx.first_customer), before_agent=float(ctx.before_agent),
             last_customer=float(ctx.last_customer), after_last_customer=float(ctx.after_last_customer),
             asks=float(asks(text)), customer_asks=float(asks(text, customer=True)),
             latin=float(bool(LATIN.search(text))), cause_en=float(bool(CAUSE_EN.search(text))))
    for name, cue in _CUES.items():
        if has(cue, text) if isinstance(cue, re.Pattern) else cue(text):
            f[f"cue_{name}"] = 1.0
    bare = _PLACE.sub("#", t)
    f.update(log_length=math.log1p(len(bare)), short=float(len(bare) < 8),
             digits=sum(c.isdigit() for c in bare) / max(1, len(bare)), placeholder=float(bool(_PLACE.search(t))),
             placeholder_share=sum(map(len, _PLACE.findall(t))) / max(1, len(t)), field=float(bool(_FIELD.search(t))),
             ends_question=float(t.rstrip("。").endswith(("?", "？"))),
             ends_colon=float(t.rstrip("。").endswith((":", "："))))
    low = bare.lower()
    for g in {*low, *(low[i:i + 2] for i in range(len(low) - 1))}:
        f[f"g{zlib.crc32(g.encode('utf-8')) % BUCKETS:03d}"] = 1.0
    return f


@dataclass(frozen=True)
class SentenceModels:
    """One logistic model per section; each one's threshold is the probability a drafted sentence of
    that section needs to be kept."""

    models: Mapping[str, LogisticModel]

    def keeps(self, section: str, f: Mapping[str, float]) -> bool:
        m = self.models.get(section)
        return m is None or m.probability(f) >= m.threshold


@cache
def shipped() -> SentenceModels | None:
    """The models in the package, or None when the file is absent (the rules alone draft)."""
    try:
        models, meta = read_models(MODEL_FILE, FEATURES)
    except FileNotFoundError:
        return None
    return SentenceModels(dict(zip(meta["sections"], models, strict=True)))
