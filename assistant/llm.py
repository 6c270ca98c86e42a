"""The ``openai:MODEL`` answer engine: any OpenAI-compatible chat endpoint (``OPENAI_BASE_URL``,
``OPENAI_API_KEY``) through the official ``openai`` client.

The client brings timeouts and bounded retries with exponential backoff on 429, 5xx and timeouts
(``CASEPILOT_LLM_TIMEOUT``, ``CASEPILOT_LLM_MAX_RETRIES``); every failure that is left, and every reply
that is not usable (no choices, empty content, a reply that cites no record and does not say
NOT_FOUND), becomes a ``BackendError`` with a message that says which. The assistant then raises it,
or answers with the extractive engine labelled as a fallback when ``CASEPILOT_LLM_FALLBACK=extractive``.

The model's reply is parsed into sentences, each with the record id it cites; the assistant verifies
them like the extractive engine's before anything is shown.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Collection, Iterator, Sequence
from typing import Any

import prompts

from .context import ContextRecord, assemble, render_blocks
from .embeddings import openai_client
from .errors import BackendError
from .sentences import NOT_FOUND, Piece, Sentence
from .settings import Settings

log = logging.getLogger(__name__)

NOT_FOUND_MARK = "NOT_FOUND"
CITE = re.compile(r"\s*[\[【]\s*([^\[\]【】\s]{1,80})\s*[\]】]")  # any record id: "C-000101", "123", "案例-7"
_ID_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-#]*")
_NUMBERED = re.compile(r"^\s*(?:\d+[.、)）]|[-*•])\s*")
_CAUSE = re.compile(r"^\s*(?:\*\*)?(?:原因|根因)(?:\*\*)?\s*[:：]\s*")
_SENTENCE_END = re.compile(r"(?<=[。！？!?；;])")
_ONLY_CITES = re.compile(r"(\s*[\[【][^\]】]*[\]】])+\s*")


class ChatModel:
    """A thin, typed wrapper over ``openai.OpenAI().chat.completions``: one reply, or a stream of deltas."""

    def __init__(self, model: str, *, base_url: str | None = None, api_key: str | None = None,
                 timeout: float = 60.0, max_retries: int = 2, temperature: float = 0.1) -> None:
        self.model = model
        self.temperature = temperature
        self._client = openai_client(base_url, api_key, timeout, max_retries)
        self.timeout = timeout
        self.max_retries = max_retries

    def _error(self, e: Exception) -> BackendError:
        # lazy: openai costs 0.6 s at import and only openai: models need it
        import openai

        name, where = f"chat model {self.model}", str(self._client.base_url)
        tries = f" (each of {self.max_retries + 1} tries)" if self.max_retries else ""
        # a read that times out in the middle of a stream is the HTTP library's own error, not the
        # client's: httpx's TimeoutException with openai 1.x, httpx2's with openai 3.x
        if isinstance(e, openai.APITimeoutError | TimeoutError) or any(
                c.__name__ == "TimeoutException" for c in type(e).__mro__):
            return BackendError(name, f"no reply within {self.timeout:g} s{tries}", timed_out=True, where=where)
        if isinstance(e, openai.APIStatusError):
            return BackendError(name, f"endpoint answered HTTP {e.status_code}: {e.message}", e.status_code,
                                where=where)
        if isinstance(e, openai.APIConnectionError):
            return BackendError(name, f"cannot reach the endpoint: {e}", where=where)
        return BackendError(name, f"malformed reply: {type(e).__name__}: {e}", where=where)

    def complete(self, messages: list[dict[str, str]]) -> str:
        try:
            resp: Any = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=self.temperature)
            content = resp.choices[0].message.content
        except BackendError:
            raise
        except Exception as e:  # the client's errors, and replies without choices or message
            raise self._error(e) from e
        if not isinstance(content, str) or not content.strip():
            raise BackendError(f"chat model {self.model}", "malformed reply: no text in the first choice")
        return content

    def stream(self, messages: list[dict[str, str]]) -> Iterator[str]:
        try:
            stream: Any = self._client.chat.completions.create(
                model=self.model, messages=messages, temperature=self.temperature, stream=True)
            got = False
            for chunk in stream:
                if not chunk.choices:
                    continue
                delta = chunk.choices[0].delta.content
                if delta:
                    got = True
                    yield delta
        except BackendError:
            raise
        except Exception as e:
            raise self._error(e) from e
        if not got:
            raise BackendError(f"chat model {self.model}", "malformed reply: the stream carried no text")


def parse_reply(text: str, context: Sequence[ContextRecord]) -> list[Sentence]:
    """Sentences of a model's reply with the record each cites (the first cited id that is in the
    context, else the first cited id, which verification then removes); numbered lines are steps."""
    in_context = {c.record.id for c in context}
    out: list[Sentence] = []
    for line in text.splitlines():
        line = line.replace("**", "").strip()
        if not line or line.startswith("#"):
            continue
        role = "point"
        if _CAUSE.match(line):
            role, line = "cause", _CAUSE.sub("", line)
        elif _NUMBERED.match(line):
            role, line = "step", _NUMBERED.sub("", line)
        parts = [p for p in _SENTENCE_END.split(line) if p.strip()]
        merged: list[str] = []  # a citation written after the full stop belongs to the sentence before it
        for p in parts:
            if merged and _ONLY_CITES.fullmatch(p):
                merged[-1] += p
            else:
                merged.append(p)
        bodies: list[str] = []
        sources: list[str | None] = []
        for p in merged:
            # a bracket is a citation when it names a record in the context or looks like an id;
            # other brackets (【注意】) are part of the text
            def is_cite(m: re.Match[str]) -> bool:
                return m.group(1) in in_context or bool(_ID_LIKE.fullmatch(m.group(1)))

            ids: list[str] = [m.group(1) for m in CITE.finditer(p) if is_cite(m)]
            body = CITE.sub(lambda m: "" if is_cite(m) else m.group(0), p).strip()
            if body:
                bodies.append(body)
                sources.append(next((i for i in ids if i in in_context), ids[0] if ids else None))
        for j in range(len(sources) - 2, -1, -1):  # an uncited sentence takes the line's next citation
            if sources[j] is None:
                sources[j] = sources[j + 1]
        for j, (body, source) in enumerate(zip(bodies, sources, strict=True)):
            out.append(Sentence(text=body, source_id=source, role=role if j == 0 else "point"))
    return out


class OpenAIEngine:
    """Answers with a chat model from the retrieved records, put inside the answer prompt's data blocks."""

    def __init__(self, model: str, settings: Settings, *, chat: ChatModel | None = None,
                 prompt: prompts.Prompt | None = None) -> None:
        self.name = f"openai:{model}"
        self.settings = settings
        self.chat = chat or ChatModel(model, timeout=settings.llm_timeout, max_retries=settings.llm_max_retries,
                                      temperature=settings.llm_temperature)
        self.prompt = prompt or prompts.load("answer")
        self.condense_prompt = prompts.load("condense")

    @property
    def prompt_label(self) -> str:
        return self.prompt.label

    def messages(self, question: str, context: Sequence[ContextRecord], ticket: str = "") -> list[dict[str, str]]:
        blocks = assemble(context, self.settings.context_tokens, self.settings.context_chunks_per_record)
        return self.prompt.render(question=question, context=render_blocks(blocks) or "（无）",
                                  ticket=ticket or "（无）", not_found=f"{NOT_FOUND_MARK} {NOT_FOUND}")

    def compose(self, question: str, context: Sequence[ContextRecord], *, ticket: str = "") -> list[Sentence]:
        text = self.chat.complete(self.messages(question, context, ticket))
        if NOT_FOUND_MARK in text:
            return []
        sentences = parse_reply(text, context)
        if not any(s.source_id for s in sentences):
            raise self._uncited()
        return sentences

    def _uncited(self) -> BackendError:
        return BackendError(self.name, "malformed reply: it cites no record and does not say NOT_FOUND")

    def compose_pieces(self, question: str, context: Sequence[ContextRecord], *, ticket: str = "",
                       exclude: Collection[str] = ()) -> Iterator[Piece]:
        """The model's reply streamed: each piece is a delta as it arrives, with the sentences of the
        lines it completed (``parse_reply`` reads a reply line by line). A line holding NOT_FOUND ends
        the answer: the lines before it stand, the rest of the reply is passed on as text only.
        ``exclude`` is not used: the model reads the condensed question, not the earlier answers."""
        line, ended, cited = "", False, False
        for delta in self.chat.stream(self.messages(question, context, ticket)):
            *done, line = (line + delta).split("\n")
            sentences: list[Sentence] = []
            for ln in done:
                ended = ended or NOT_FOUND_MARK in ln
                if not ended:
                    sentences += parse_reply(ln, context)
            cited = cited or any(s.source_id for s in sentences)
            yield Piece(delta, sentences)
        ended = ended or NOT_FOUND_MARK in line
        last = [] if ended else parse_reply(line, context)
        if not (ended or cited or any(s.source_id for s in last)):
            raise self._uncited()
        if last:
            yield Piece("", last)

    def condense(self, question: str, conversation: Sequence[dict[str, str]]) -> str:
        """The follow-up rewritten as a standalone question, from the earlier turns."""
        history = "\n".join(f"{t.get('role', 'user')}: {t.get('text', '')}" for t in conversation[-6:])
        text = self.chat.complete(self.condense_prompt.render(history=history, question=question)).strip()
        return text.splitlines()[0].strip() if text else question
