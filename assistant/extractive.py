"""The ``extractive`` answer engine: the default, needing no model endpoint.

It answers by quoting the retrieved records, each sentence with the id it came from: from the best
record its root cause and its procedure (numbered steps, in their order) or its most relevant
sentences; from the next records one sentence each that adds something. Relevance is the
passage-space embedding similarity of question and sentence plus their character-bigram overlap,
with priors for the section (a solution step answers better than a restated problem) and the
record's retrieval rank; the other records' sentences are picked by maximal marginal relevance, so
the answer does not repeat itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

from .answering import INJECTION, ContextRecord, Sentence, bigrams
from .embeddings import Embedder
from .library import Library
from .types import PASSAGE_SPACE, QUESTION_SPACE

_STEP = re.compile(r"^\s*(?:\d+[.、)）]|[（(]\d+[)）]|[-*•])\s*")
_CAUSE = re.compile(r"根因|根本原因|原因(是|为|在于)|是因为|由于|导致|确认(为|是)|定位(为|到)|问题出在|root cause",
                    re.IGNORECASE)
_SENT = re.compile(r"(?<=[。！？；!?;])\s*|\n+")
SECTION_PRIOR = {"solution": 0.15, "answer": 0.1, "body": 0.05, "diagnosis": 0.0, "outcome": -0.05, "problem": -0.2}
RANK_PRIOR = (0.12, 0.04, 0.0, -0.04, -0.08)


def units(section: str, text: str) -> list[tuple[str, bool]]:
    """``(sentence, is_step)``: numbered or bulleted lines are steps; other text splits into sentences."""
    out: list[tuple[str, bool]] = []
    for line in text.splitlines():
        line = line.replace("**", "").replace("__", "").strip()  # Markdown emphasis is not content
        if not line or line.startswith("#"):
            continue
        if _STEP.match(line):
            out.append((_STEP.sub("", line).strip(), True))
        else:
            out.extend((s.strip(), False) for s in _SENT.split(line) if s and s.strip())
    return [(u, step) for u, step in out if len(u) >= 4 and not INJECTION.search(u)]


class ExtractiveEngine:
    name = "extractive"

    def __init__(self, library: Library, *, max_sentences: int = 3, max_steps: int = 7, max_records: int = 3,
                 mmr_lambda: float = 0.7, cutoff: float = 0.6) -> None:
        self.lib = library
        self.max_sentences = max_sentences
        self.max_steps = max_steps
        self.max_records = max_records
        self.mmr_lambda = mmr_lambda
        self.cutoff = cutoff

    def _embedder(self) -> Embedder:
        spaces = self.lib.embedders
        return spaces.get(PASSAGE_SPACE) or spaces[QUESTION_SPACE]

    def compose(self, question: str, context: Sequence[ContextRecord]) -> list[Sentence]:
        """From the best record: its root cause and its procedure (all steps, in order) or its most
        relevant sentences; from the next records: one sentence each that adds something (MMR)."""
        cands: list[tuple[int, str, int, str, bool]] = []  # (record rank, section, position, text, step)
        for rank, c in enumerate(context[: self.max_records]):
            pos = 0
            for section, text in c.sections:
                for u, step in units(section, text):
                    cands.append((rank, section, pos, u, step))
                    pos += 1
        if not cands:
            return []
        emb = self._embedder()
        qv = emb.embed_query(question)
        uv = emb.embed_passages([u for _, _, _, u, _ in cands])
        qgrams = bigrams(question)
        rel = np.array([
            float(uv[i] @ qv)
            + 0.6 * (len(qgrams & bigrams(u)) / len(qgrams) if qgrams else 0.0)
            + SECTION_PRIOR.get(section, 0.0)
            + RANK_PRIOR[min(rank, len(RANK_PRIOR) - 1)]
            for i, (rank, section, _, u, _) in enumerate(cands)
        ])
        top = [i for i, c in enumerate(cands) if c[0] == 0]
        chosen: list[int] = []
        cause = [i for i in top if cands[i][1] == "diagnosis"]
        if cause:  # the root cause: the sentence that says so, else the most relevant finding
            stated = [i for i in cause if _CAUSE.search(cands[i][3])]
            chosen.append(max(stated or cause, key=lambda i: rel[i]))
        steps = [i for i in top if cands[i][4] and cands[i][1] in ("solution", "answer")]
        if len(steps) >= 2:  # a case's (or FAQ's) procedure: every step, in order
            chosen += steps[: self.max_steps]
        else:
            body = sorted((i for i in top if cands[i][1] != "problem" and i not in chosen), key=lambda i: -rel[i])
            chosen += body[: self.max_sentences]
        best = float(rel.max())
        others = [i for i, c in enumerate(cands) if c[0] > 0 and c[1] != "problem"]
        per_record: dict[int, int] = {}
        while others and len(per_record) < self.max_records - 1:
            redundancy = np.max(uv[others] @ uv[chosen].T, axis=1) if chosen else np.zeros(len(others))
            mmr = self.mmr_lambda * rel[others] - (1 - self.mmr_lambda) * redundancy
            j = int(np.argmax(mmr))
            i = others[j]
            if rel[i] < best * self.cutoff:
                break
            per_record[cands[i][0]] = i
            chosen.append(i)
            others = [o for o in others if cands[o][0] != cands[i][0]]
        out = []
        for i in chosen:
            rank, section, _, text, step = cands[i]
            role = "see_also" if rank else ("cause" if section == "diagnosis" else "step" if step else "point")
            out.append(Sentence(text=text, source_id=context[rank].record.id, section=section, quote=text, role=role))
        return out
