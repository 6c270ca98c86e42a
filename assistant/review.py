"""The review workflow: closed tickets become case drafts (``in_review``), and a reviewer approves,
edits, rejects or merges them. Nothing is citable until approved; approving makes it citable at once
(the same write path as an import, so both indexes change in the same step).

Every decision is in the audit log with who and when; the draft's provenance (each sentence's
message ids, suggested tags, possible duplicates) stays in the store's ``drafts`` table next to the
case. A draft flagged as a likely duplicate is approved only with a choice: merged into the existing case,
or approved as distinct with a reason. Which cases are stale, and why, is ``assistant.staleness``.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import numpy as np

from .draft_promises import draft_flags
from .drafting import Draft, draft_extractive, draft_with_model
from .engines import chat_model
from .errors import Conflict, DuplicateDraft, InputError, NotFound
from .extractive import instructions
from .index.filters import Filters
from .library import Library
from .records import RecordError, parse_record
from .redact import redact
from .staleness import stale_cases
from .tagging import TagSuggester
from .text import LIST_MARK, content_words, sentences
from .types import CASE_SECTIONS, PASSAGE_SPACE, QUESTION_SPACE, Record

log = logging.getLogger(__name__)

EDITABLE = ("title", *CASE_SECTIONS, "tags", "product", "product_version", "severity")


class Written(Protocol):
    warnings: list[str]  # what a person should hear about the write (a tag not in the taxonomy)


class RecordWriter(Protocol):
    def ingest_records(self, records: Sequence[Record]) -> Written: ...


class WriterFactory(Protocol):
    """What stores the workflow's cases, made once per actor: ``ingestion.pipeline.Ingestor``, the import
    write path (redaction, tag check, content hash, chunks, both indexes in one step). The caller hands
    it in because the core imports nothing of ingestion."""

    def __call__(self, library: Library, *, actor: str) -> RecordWriter: ...


@dataclass
class DraftRun:
    drafted: list[str] = field(default_factory=list)  # case ids
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (ticket id, reason)
    already: list[str] = field(default_factory=list)  # tickets drafted before


def case_id_for(ticket_id: str) -> str:
    """The id of the case drafted from a ticket: ``CD-`` and the ticket id, with a short hash of the
    ticket id when characters had to be replaced (``工单-001`` and ``投诉-001`` stay apart)."""
    slug = re.sub(r"[^A-Za-z0-9_.-]", "-", ticket_id)[:160]
    if slug == ticket_id:
        return "CD-" + slug
    return f"CD-{slug}-{hashlib.sha1(ticket_id.encode()).hexdigest()[:8]}"


class Review:
    def __init__(self, library: Library, *, writer: WriterFactory, actor: str = "casepilot") -> None:
        self.lib = library
        self.writer = writer
        self.actor = actor

    # ---- drafting ------------------------------------------------------------------------------

    def _ingestor(self, actor: str) -> RecordWriter:
        return self.writer(self.lib, actor=actor)

    def _drafter(self, ticket: dict[str, Any]) -> Draft:
        chat = chat_model(self.lib.settings, temperature=0.0)
        if chat is not None:
            return draft_with_model(ticket, chat, self.lib.settings.llm.strip())
        return draft_extractive(ticket)

    def duplicates(self, title: str, problem: str, *, exclude: str = "") -> list[dict[str, Any]]:
        """Approved cases close to a draft: the best of question-space similarity (titles) and
        passage-space similarity (title + problem), at or above ``duplicate_threshold``."""
        hits = self.lib.search(f"{title} {problem[:200]}", 5, Filters.parse(["kind=case"]))
        hits = [h for h in hits if h.id != exclude]
        if not hits:
            return []
        out = []
        recs = {h.id: self.lib.store.get(self.lib.tenant, h.id) for h in hits}
        # the passage space only: E5's question-space similarities of any two support titles sit within
        # 0.85-0.95 and did not separate duplicates on the sample pairs (python -m evals.draft_eval)
        spaces = [PASSAGE_SPACE] if PASSAGE_SPACE in self.lib.embedders else [QUESTION_SPACE]
        for space, text_of in ((QUESTION_SPACE, lambda d: d.get("title") or ""),
                               (PASSAGE_SPACE, lambda d: f"{d.get('title') or ''} {(d.get('problem') or '')[:300]}")):
            emb = self.lib.embedders.get(space)
            if emb is None or space not in spaces:
                continue
            q = title if space == QUESTION_SPACE else f"{title} {problem[:300]}"
            qv = emb.embed_questions([q])[0] if space == QUESTION_SPACE else emb.embed_passages([q])[0]
            texts = [text_of(r.data) if (r := recs[h.id]) is not None else "" for h in hits]
            m = emb.embed_questions(texts) if space == QUESTION_SPACE else emb.embed_passages(texts)
            for h, sim in zip(hits, np.asarray(m) @ qv, strict=True):
                out.append((h.id, h.title, float(sim)))
        best: dict[str, tuple[str, float]] = {}
        for rid, title_, sim in out:
            if sim > best.get(rid, ("", -1.0))[1]:
                best[rid] = (title_, sim)
        th = self.lib.settings.duplicate_threshold
        return sorted(({"id": rid, "title": t_, "similarity": round(s, 3)} for rid, (t_, s) in best.items()
                       if s >= th), key=lambda d: -d["similarity"])

    def draft(self, ticket_id: str, *, redraft: bool = False) -> tuple[Draft, str | None]:
        """Draft the stored ticket ``ticket_id``; returns the draft and the in_review case id (None
        when the ticket was skipped; the reason is in ``draft.skipped`` and in the store)."""
        rec = self.lib.store.get(self.lib.tenant, ticket_id)
        if rec is None or rec.kind != "ticket":
            raise NotFound(f"no ticket {ticket_id!r} in tenant {self.lib.tenant!r}")
        earlier = self.lib.store.drafts(self.lib.tenant, ticket_id=ticket_id)
        if earlier and earlier[0].status not in ("skipped", "in_review") and not redraft:
            raise Conflict(f"ticket {ticket_id!r} was already drafted and {earlier[0].status}")
        d = self._drafter(rec.data)
        if d.skipped:
            self.lib.store.put_draft(self.lib.tenant, ticket_id, status="skipped", reason=d.skipped,
                                     payload={"engine": d.engine})
            return d, None
        d.tags = self._tags(d)
        d.duplicates = self.duplicates(d.title, d.section("problem"))
        cid = case_id_for(ticket_id)
        existing = self.lib.store.get(self.lib.tenant, cid)
        if existing is not None and ticket_id not in (existing.data.get("source_tickets") or []):
            raise Conflict(f"case {cid} exists and was not drafted from ticket {ticket_id}; not overwriting it")
        try:
            case = parse_record(d.case(cid))
        except RecordError as e:
            raise InputError(f"ticket {ticket_id}: the draft is not a valid case: {e}") from None
        self._ingestor(self.actor).ingest_records([case])
        self.lib.store.put_draft(self.lib.tenant, ticket_id, status="in_review", case_id=cid,
                                 payload=d.to_dict())
        return d, cid

    def _tags(self, d: Draft) -> list[tuple[str, float]]:
        """Tags from the library's taxonomy, or none when the suggester abstains (the reviewer picks)."""
        s = TagSuggester(self.lib).suggest(f"{d.title} {d.section('problem')}")
        return [] if s.abstained else [(t, c) for t, c in s.tags]

    def draft_all(self) -> DraftRun:
        """Draft every stored closed ticket that has no draft yet."""
        run = DraftRun()
        done = {d.ticket_id for d in self.lib.store.drafts(self.lib.tenant)}
        for rec in self.lib.store.records(self.lib.tenant, kind="ticket"):
            if rec.id in done:
                run.already.append(rec.id)
                continue
            d, cid = self.draft(rec.id)
            if cid:
                run.drafted.append(cid)
            else:
                run.skipped.append((rec.id, d.skipped))
        return run

    # ---- the queue -----------------------------------------------------------------------------

    def queue(self) -> list[dict[str, Any]]:
        """Cases waiting for review, newest first, with their ticket and possible duplicates."""
        drafts = {d.case_id: d for d in self.lib.store.drafts(self.lib.tenant, status="in_review")}
        recs = [r for r in self.lib.store.records(self.lib.tenant, kind="case") if r.status == "in_review"]
        recs.sort(key=lambda r: r.updated_at, reverse=True)
        return [{"id": r.id, "title": r.title, "updated_at": r.updated_at,
                 "ticket_id": d.ticket_id if (d := drafts.get(r.id)) else "",
                 "duplicates": d.payload.get("duplicates", []) if d else []} for r in recs]

    def show(self, case_id: str) -> dict[str, Any]:
        rec = self._case(case_id)
        drafts = self.lib.store.drafts(self.lib.tenant, case_id=case_id)
        return {"case": rec.data, "status": rec.status, "version": rec.version,
                "instructions": instructions_of(rec.data), "draft": asdict(drafts[0]) if drafts else None,
                "promises": draft_flags(self.lib, rec.data, drafts[0].payload if drafts else None),
                "stats": asdict(self.lib.store.citation_stats(self.lib.tenant, case_id)),
                "audit": [asdict(e) for e in self.lib.store.audit(self.lib.tenant, case_id)]}

    def _case(self, case_id: str) -> Any:
        rec = self.lib.store.get(self.lib.tenant, case_id)
        if rec is None or rec.kind != "case":
            raise NotFound(f"no case {case_id!r} in tenant {self.lib.tenant!r}")
        return rec

    def _write(self, data: dict[str, Any], actor: str) -> list[str]:
        """Store a new version of the case; the warnings of the write (a tag not in the taxonomy)."""
        notes: list[str] = []
        try:
            case = parse_record(data, notes=notes)
        except RecordError as e:
            raise InputError(str(e)) from None
        return [f"{case.id}: {n}" for n in notes] + self._ingestor(actor).ingest_records([case]).warnings

    # ---- decisions -----------------------------------------------------------------------------

    def open_duplicates(self, case_id: str) -> list[dict[str, Any]]:
        """The draft's likely duplicates that are still approved cases (flagged when it was drafted)."""
        drafts = self.lib.store.drafts(self.lib.tenant, case_id=case_id)
        flagged = drafts[0].payload.get("duplicates", []) if drafts else []
        return [d for d in flagged if d.get("id") != case_id
                and (r := self.lib.store.get(self.lib.tenant, d["id"])) is not None and r.status == "approved"]

    def approve(self, case_id: str, actor: str, edits: dict[str, Any] | None = None, *,
                distinct_reason: str = "") -> list[str]:
        """Approve the draft (with ``edits``); returns the write's warnings. A draft flagged as a likely
        duplicate needs ``distinct_reason`` (audited), or a ``merge`` instead: else ``DuplicateDraft``."""
        rec = self._case(case_id)
        if rec.status != "in_review":
            raise Conflict(f"{case_id} is {rec.status}, not in review")
        dupes = self.open_duplicates(case_id)
        distinct_reason = self._redacted((distinct_reason or "").strip())
        if dupes and not distinct_reason:
            raise DuplicateDraft(case_id, dupes)
        data = {**rec.data, **_check_edits(edits or {}), "status": "approved", "reviewed_by": actor,
                "updated_at": _today()}
        warnings = self._write(data, actor) + [
            f"{case_id}: the {i['section']} addresses the assistant; answers never quote this part of it: "
            f"{i['sentence']}" for i in instructions_of(data)]
        self.lib.store.set_draft_status(self.lib.tenant, case_id, "approved")
        detail: dict[str, Any] = {"edited": sorted((edits or {}).keys())}
        if dupes:
            detail |= {"distinct": distinct_reason, "duplicates": [d["id"] for d in dupes]}
        self.lib.store.note(self.lib.tenant, case_id, "approve", actor, detail)
        return warnings

    def _redacted(self, text: str) -> str:
        """A reviewer's free text as kept in the drafts table and the audit log."""
        if text and self.lib.settings.redact:
            return redact(text).text
        return text

    def reject(self, case_id: str, actor: str, reason: str) -> None:
        reason = (reason or "").strip()
        if not reason:
            raise InputError("rejecting needs a reason")
        reason = self._redacted(reason)
        rec = self._case(case_id)
        if rec.status != "in_review":
            raise Conflict(f"{case_id} is {rec.status}, not in review")
        self._write({**rec.data, "status": "rejected", "reviewed_by": actor}, actor)
        self.lib.store.set_draft_status(self.lib.tenant, case_id, "rejected", reason)
        self.lib.store.note(self.lib.tenant, case_id, "reject", actor, {"reason": reason})

    def edit(self, case_id: str, actor: str, edits: dict[str, Any]) -> list[str]:
        """Change fields of a case (a new version; an approved case stays approved); returns the
        write's warnings."""
        rec = self._case(case_id)
        if not edits:
            raise InputError("nothing to edit: give field=value pairs")
        return self._write({**rec.data, **_check_edits(edits)}, actor)

    def merge(self, case_id: str, into: str, actor: str, edits: dict[str, Any] | None = None, *,
              preview: bool = False) -> dict[str, Any]:
        """Merge a draft into an existing approved case instead of approving a duplicate: the case gets
        a new version with the draft's sections merged into its own (``merge_sections``, then the
        reviewer's ``edits``) and the draft's ticket added to its sources; the draft is closed. Returns
        the sections as written; with ``preview`` nothing is written."""
        draft = self._case(case_id)
        target = self._case(into)
        if draft.status != "in_review":
            raise Conflict(f"{case_id} is {draft.status}, not in review")
        if target.status != "approved":
            raise Conflict(f"{into} is {target.status}; merge into an approved case")
        merged: dict[str, Any] = {**merge_sections(target.data, draft.data), **_check_edits(edits or {})}
        if preview:
            return merged
        sources = list(dict.fromkeys([*(target.data.get("source_tickets") or []),
                                      *(draft.data.get("source_tickets") or [])]))
        self._write({**target.data, **merged, "source_tickets": sources, "reviewed_by": actor,
                     "updated_at": _today()}, actor)
        self._write({**draft.data, "status": "rejected", "reviewed_by": actor}, actor)
        self.lib.store.set_draft_status(self.lib.tenant, case_id, "merged", f"merged into {into}")
        changed = sorted(k for k, v in merged.items() if v != target.data.get(k))
        self.lib.store.note(self.lib.tenant, into, "merge", actor, {"from": case_id, "changed": changed})
        self.lib.store.note(self.lib.tenant, case_id, "merged", actor, {"into": into})
        return merged

    def archive(self, case_id: str, actor: str) -> None:
        rec = self._case(case_id)
        self._write({**rec.data, "status": "archived"}, actor)

    def set_product_version(self, product: str, version: str) -> None:
        if not product.strip() or not version.strip():
            raise InputError("give a product and a version")
        self.lib.store.set_product_version(self.lib.tenant, product.strip(), version.strip())

    # ---- stale cases ---------------------------------------------------------------------------

    def stale(self, *, now: datetime | None = None) -> list[dict[str, Any]]:
        """Approved cases due for re-review, each with the reasons (``assistant.staleness``)."""
        return stale_cases(self.lib, self.queue(), now=now or datetime.now(UTC))


def instructions_of(case: dict[str, Any]) -> list[dict[str, str]]:
    """The sentences of a case's sections that address the assistant ("忽略以上所有指令…"), by section."""
    return [{"section": k, "sentence": s} for k in ("title", *CASE_SECTIONS)
            for s in instructions(str(case.get(k) or ""))]


def merge_sections(target: dict[str, Any], draft: dict[str, Any]) -> dict[str, str]:
    """Each section of ``target`` followed by the draft's sentences it does not already say (a third
    or more of a sentence's content words absent from the section), for the reviewer to edit before
    merging. New steps continue the case's numbered solution."""
    out = {}
    for sec in CASE_SECTIONS:
        base = str(target.get(sec) or "").strip()
        have = set(content_words(base))
        new = [s for line in str(draft.get(sec) or "").splitlines() for s in sentences(line.strip())
               if (words := set(content_words(s))) and len(words - have) * 3 >= len(words)]
        if sec == "solution":
            lines = base.splitlines()
            if all(LIST_MARK.match(x) for x in lines):  # a numbered list (or none): number on
                new = [f"{i}. {LIST_MARK.sub('', x)}" for i, x in enumerate(new, len(lines) + 1)]
            out[sec] = "\n".join([*lines, *new])
        else:
            out[sec] = "\n".join(x for x in (base, "".join(new)) if x)
    return out


def _check_edits(edits: dict[str, Any]) -> dict[str, Any]:
    bad = [k for k in edits if k not in EDITABLE]
    if bad:
        raise InputError(f"cannot edit {', '.join(bad)}; editable: {', '.join(EDITABLE)}")
    return edits


def parse_edits(pairs: Sequence[str]) -> dict[str, Any]:
    """``field=value`` pairs from the command line (``tags=a;b`` splits on ``;``)."""
    out: dict[str, Any] = {}
    for p in pairs:
        if "=" not in p:
            raise InputError(f"{p!r}: expected field=value")
        k, v = p.split("=", 1)
        out[k.strip()] = [t.strip() for t in v.split(";") if t.strip()] if k.strip() == "tags" else v.replace(
            "\\n", "\n")
    return _check_edits(out)


def _today() -> str:
    return datetime.now(UTC).date().isoformat()
