"""The ``extractive`` drafter: a closed ticket's conversation segmented by role and cue into problem,
diagnosis, solution and outcome, every sentence one that was said in the ticket."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..types import CASE_SECTIONS
from .cues import (
    CAUSE_EN,
    CONFIRM,
    DIRECTIVE,
    FACT,
    FOLLOW_UP,
    LATIN,
    LISTS_FINDINGS,
    LISTS_REQUEST,
    QUESTION,
    REPORT,
    REQUEST,
    SALES,
    WANTS,
    asks,
    has,
    is_finding,
    is_instruction,
    skip_reason,
    split_message,
    units,
)
from .draft import Draft, DraftSentence, severity, ticket_messages
from .sentence_model import SentenceModels, contexts, features, shipped


def draft_extractive(ticket: dict[str, Any], *, max_per_section: int = 6,
                     learned: SentenceModels | bool = True) -> Draft:
    """Segment a closed ticket's conversation into problem, diagnosis, solution and outcome. With
    ``learned`` (the shipped models, or the ones given) a sentence the rules place in a section is
    kept only when its section's model finds it likely enough; a step of a list is always kept."""
    msgs = ticket_messages(ticket)
    tid = str(ticket.get("id") or "")
    d = Draft(ticket_id=tid, title="", severity=severity(ticket.get("priority")),
              product=str(ticket.get("product") or ""))
    d.skipped = skip_reason(ticket, msgs)
    if d.skipped:
        return d
    sections, in_list = segment(msgs)
    models = shipped() if learned is True else learned or None
    if models:
        ctx = contexts(msgs)
        where = {m["id"]: i for i, m in enumerate(msgs)}
        for sec, sents in sections.items():
            # an English or German sentence is left to the rules: 20 annotated tickets teach a model little
            keep = [k for k, s in enumerate(sents) if (sec == "solution" and in_list[k] > 0) or LATIN.search(s.text)
                    or models.keeps(sec, features(s.text, ctx[where[s.sources[0]]]))]
            sections[sec] = [sents[k] for k in keep]
            if sec == "solution":
                in_list = [in_list[k] for k in keep]
    sections["solution"] = _latest_instructions(sections["solution"], in_list, max_per_section)
    for s in (s for s in CASE_SECTIONS if s != "solution"):
        sections[s] = sections[s][:max_per_section]
    d.sentences = [s for sec in CASE_SECTIONS for s in sections[sec]]
    d.title = _title(ticket, sections["problem"])
    if not sections["solution"]:
        d.skipped = "no solution in the conversation"
    return d


def segment(msgs: Sequence[dict[str, str]]) -> tuple[dict[str, list[DraftSentence]], list[int]]:
    """The rules' sections of a conversation, before any limit, and for each solution sentence which
    of the agent's lists it belongs to (-1: none)."""
    first_customer = next((i for i, m in enumerate(msgs) if m["role"] == "customer" and units(m["text"])), 0)
    first_agent = next((i for i, m in enumerate(msgs) if i > first_customer and m["role"] == "agent"
                        and units(m["text"])), len(msgs))
    # what the agent says after the customer's closing confirmation ("测试页打出来了，太感谢了") is a
    # sign-off ("好的，已在工单中备注您的联系方式…"), not a step of the solution
    # (unless the customer's last message opens with a question the agent then answers)
    last_customer = max((i for i, m in enumerate(msgs) if m["role"] == "customer" and units(m["text"])), default=-1)
    closing = units(msgs[last_customer]["text"])[0] if last_customer > first_agent else ""
    signed_off = last_customer if has(CONFIRM, closing) and not has(QUESTION, closing) else len(msgs)
    sections: dict[str, list[DraftSentence]] = {s: [] for s in CASE_SECTIONS}
    in_list: list[int] = []  # per solution sentence: which of the agent's lists it belongs to (-1: none)
    asked = False  # the agent's last message asked the customer something, not yet answered
    lists = 0
    for i, m in enumerate(msgs):
        items = split_message(m["text"], agent=m["role"] == "agent", clean=m["role"] != "system")
        list_id, list_role = -1, "solution"
        for n, (u, item) in enumerate(items):
            if m["role"] == "customer":
                if i < first_agent:
                    sec = "diagnosis" if CAUSE_EN.search(u) else "problem"
                elif asks(u, customer=True) or has(FOLLOW_UP, u):
                    continue  # a follow-up question, remark or request: neither a finding nor an outcome
                elif has(CONFIRM, u) and i > first_agent:
                    sec = "outcome"
                elif i == signed_off:  # the rest of the closing message: a remark, not a finding
                    continue
                elif asked or (has(FACT, u) and not has(CONFIRM, u)):  # an answer states a fact
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
                    list_role = ("diagnosis" if has(LISTS_FINDINGS, intro) else
                                 "" if has(LISTS_REQUEST, intro) else "solution")
                elif not item:
                    list_id = -1
                if i >= first_agent and list_id > 0 and not u.endswith(("？", "?")):
                    if not list_role:  # what the agent asks the customer for is not a step
                        continue
                    sec = list_role  # every step of the agent's procedure, whatever its wording
                elif ((has(REQUEST, u) and not LATIN.search(u))  # asking for an order or phone number
                      or has(SALES, u) or (asks(u) and has(WANTS, u))):  # a sales push; asking what is wanted
                    continue
                elif (is_instruction(u) and not u.endswith(("？", "?")) and not asks(u) and i >= first_agent
                      and not (has(REPORT, u) and not has(DIRECTIVE, u))):
                    sec = "solution"
                elif is_finding(u) or has(REPORT, u):
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
            asked = any(has(QUESTION, u) or u.endswith(("？", "?")) for u, _ in items)
        elif m["role"] == "customer" and items:
            asked = False  # the first reply answers; later messages are judged on their own
    return sections, in_list


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


def _title(ticket: dict[str, Any], problem: Sequence[DraftSentence]) -> str:
    subject = str(ticket.get("subject") or "").strip()
    if subject:
        return subject[:80]
    text = problem[0].text if problem else "未命名问题"
    text = re.split(r"[，,。！？!?]", text)[0] if len(text) > 30 else text
    return text[:40]

