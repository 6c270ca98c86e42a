"""What happens to a verified request, the same for every platform: refuse events older than the
de-duplication window, take each platform event id once (in the database, so every worker process
agrees), record feedback clicks, and answer questions in the background: the thread's conversation
and ticket, the tenant's library under its read lock, the reply rendered and sent through the one
``Outbound`` client."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING

from assistant.curated import curated_note
from assistant.errors import BackendError, CasepilotError, InputError, NotFound, QuestionTooLong
from assistant.promises import warning_text

from . import load_channel, platform
from .common import (
    Ack,
    BotSettings,
    Channel,
    Feedback,
    Incoming,
    Message,
    Platform,
    RawRequest,
    Refused,
    Reply,
    case_url,
    conversation_id,
)
from .outbound import Outbound, OutboundError

if TYPE_CHECKING:
    from assistant.answering import Answer

    from ..deps import AppState
    from ..tenants import Tenant

log = logging.getLogger("casepilot.bots")


class BotRuntime:
    def __init__(self, settings: BotSettings, state: AppState) -> None:
        self.settings = settings
        self.state = state
        self.out = Outbound(settings.timeout_seconds, settings.retries, settings.backoff_seconds)
        self.executor = ThreadPoolExecutor(settings.workers, thread_name_prefix="casepilot-bot")
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self.ticket_re = re.compile(rf"(?<![A-Za-z0-9_-])(?:{settings.ticket_pattern})(?![A-Za-z0-9_])")
        if not settings.public_url:
            log.warning("CASEPILOT_BOTS_PUBLIC_URL is not set: bot replies name the cited cases without links")

    def close(self, timeout: float = 5.0) -> None:
        """Give the answers in flight up to ``timeout`` seconds, drop those not started, and close the
        platform client (an answer still running after that fails to send, and says so in the log)."""
        self.drain(timeout)
        with self._lock:
            left = len(self._pending)
        self.executor.shutdown(wait=False, cancel_futures=True)
        if left:
            log.warning("shutting down with %d bot answers not sent", left)
        self.out.close()

    def drain(self, timeout: float = 60.0) -> None:
        """Wait for the answers in flight (tests; shutdown)."""
        with self._lock:
            pending = set(self._pending)
        wait(pending, timeout)

    # ---- a request -----------------------------------------------------------------------------

    def handle(self, platform_name: str, channel_id: str, req: RawRequest) -> Ack:
        """Verify, de-duplicate, acknowledge; questions go to the background. Raises ``Refused``."""
        channel = load_channel(self.state.http, channel_id)
        if channel is None or channel.platform != platform_name:
            raise Refused(404, "not_found", f"no {platform_name} bot channel {channel_id!r}")
        plat = platform(platform_name)
        now = time.time()
        try:
            inc = plat.verify(channel, req, now)
        except Refused as e:
            log.info("%s channel %s: refused a request (%s %s)", platform_name, channel.id, e.status, e.code)
            raise
        if inc.signature and inc.event_id:
            self._bind_signature(channel, inc, now)
        if inc.event_id:
            if inc.created is not None and now - inc.created > self.settings.dedupe_ttl_seconds:
                raise Refused(401, "stale_request", "the event is older than the de-duplication window")
            if not self.state.http.claim_bot_event(channel.id, inc.event_id, self.settings.dedupe_ttl_seconds, now):
                log.info("%s channel %s: event %s seen before (a retry or a replay); not processed again",
                         platform_name, channel.id, inc.event_id)
                return inc.ack
        if inc.feedback is not None:
            return self._feedback(channel, inc)
        if inc.message is not None:
            self._submit(plat, channel, inc.message)
        return inc.ack

    def _bind_signature(self, channel: Channel, inc: Incoming, now: float) -> None:
        """A signature that does not cover the body may come again only with its first event (the
        platform's retry, de-duplicated next); with another event it is a captured signature carrying
        a forged body, and is refused."""
        store, ttl = self.state.http, self.settings.dedupe_ttl_seconds
        fresh = store.claim_bot_event(channel.id, f"sig:{inc.signature}", ttl, now)
        first_pair = store.claim_bot_event(channel.id, f"sig:{inc.signature}#{inc.event_id}", ttl, now)
        if not fresh and first_pair:
            log.warning("%s channel %s: a signature already used with another event came with event %s; refused",
                        channel.platform, channel.id, inc.event_id)
            raise Refused(401, "replayed_signature", "this signature was already used with another message")

    def _feedback(self, channel: Channel, inc: Incoming) -> Ack:
        assert inc.feedback is not None
        try:
            self.state.store.add_feedback(channel.tenant, inc.feedback.answer_id.strip(), inc.feedback.helpful,
                                          f"via {channel.platform} bot",
                                          rater=f"{channel.platform}:{channel.id}:{inc.feedback.user}")
        except (NotFound, InputError) as e:
            log.info("%s channel %s: feedback not recorded: %s", channel.platform, channel.id, e)
            return inc.feedback_failed or inc.ack
        log.info("%s channel %s: answer %s rated %s", channel.platform, channel.id, inc.feedback.answer_id,
                 "helpful" if inc.feedback.helpful else "not helpful")
        confirm = getattr(platform(channel.platform), "confirm_feedback", None)
        if confirm is not None and inc.feedback.message:
            self._confirm_later(confirm, channel, inc.feedback)
        return inc.ack

    def _submit(self, plat: Platform, channel: Channel, msg: Message) -> None:
        self._track(self.executor.submit(self._answer, plat, channel, msg))

    def _confirm_later(self, confirm: Callable[[Outbound, Channel, Feedback], None], channel: Channel,
                    feedback: Feedback) -> None:
        def run() -> None:
            try:
                confirm(self.out, channel, feedback)
            except OutboundError as e:
                log.warning("%s channel %s: the rating was recorded but not shown: %s", channel.platform, channel.id, e)

        self._track(self.executor.submit(run))

    def _track(self, fut: Future[None]) -> None:
        with self._lock:
            self._pending.add(fut)
        fut.add_done_callback(self._done)

    def _done(self, fut: Future[None]) -> None:
        with self._lock:
            self._pending.discard(fut)

    # ---- in the background ---------------------------------------------------------------------

    def _answer(self, plat: Platform, channel: Channel, msg: Message) -> None:
        t0 = time.perf_counter()
        try:
            reply = self._reply(channel, msg)
            plat.send(self.out, channel, msg.target, plat.render(channel, reply))
        except OutboundError as e:
            log.warning("%s channel %s: the reply was not delivered: %s", channel.platform, channel.id, e)
            return
        except Exception:
            log.exception("%s channel %s: answering failed", channel.platform, channel.id)
            return
        log.info("%s channel %s: answered in %.2f s", channel.platform, channel.id, time.perf_counter() - t0)

    def _reply(self, channel: Channel, msg: Message) -> Reply:
        st = self.state
        tenant = st.tenants.get(channel.tenant)  # the channel's tenant, and no other
        conv = conversation_id(channel, msg.thread)
        ticket = self._ticket(channel, tenant, conv, msg.text)
        earlier = st.store.turns(channel.tenant, conv, limit=self.settings.history_turns) \
            if self.settings.history_turns else []
        conversation = [{"role": t.role, "text": t.text} for t in earlier]
        try:
            with tenant.read():
                a = tenant.assistant.ask(msg.text, ticket=ticket, conversation=conversation)
        except QuestionTooLong as e:  # the channel's people read Chinese: say it in Chinese
            return Reply(f"问题太长了（{e.length} 字），请精简到 {e.limit} 字以内再问。", notice=True)
        except InputError as e:
            return Reply(f"没法回答这个问题：{e}", notice=True)
        except BackendError as e:
            st.metrics.model_failed(tenant.assistant.engine.name)
            log.warning("%s channel %s: %s", channel.platform, channel.id, e)
            return Reply("模型服务暂时不可用，请稍后再问一次。", notice=True)
        except CasepilotError as e:
            log.warning("%s channel %s: %s", channel.platform, channel.id, e)
            return Reply("暂时无法回答，请稍后再问一次。", notice=True)
        st.metrics.answered(a.engine, a.abstained, a.seconds, bool(a.fallback))
        st.store.add_turns(channel.tenant, conv, [
            {"role": "user", "text": a.question},
            {"role": "assistant", "text": a.answer, "answer_id": a.id},
        ])
        return self.reply_of(a, ticket)

    def reply_of(self, a: Answer, ticket: str | None) -> Reply:
        cited: list[str] = []
        for c in a.citations:
            if c.id and c.id not in cited:
                cited.append(c.id)
        related = [(h.id, h.title) for h in a.related]
        ids = cited + [i for i, _ in related]
        links = {i: url for i in ids if (url := case_url(self.settings, i))}
        # a bot's reply is only text: the curated label and a promise warning go into it
        text = f"{a.answer}\n\n{curated_note(a.curated)}" if a.curated else a.answer
        text += ("\n\n" + warning_text(a.promises)) if a.promises else ""
        return Reply(text, cited, links, related, a.abstained, a.id, ticket)

    def _ticket(self, channel: Channel, tenant: Tenant, conv: str, text: str) -> str | None:
        """The ticket a thread is about: the last ticket id of the tenant's library mentioned in this
        message, else the one mentioned earlier in the thread."""
        store = self.state.store
        for m in reversed(list(self.ticket_re.finditer(text))):
            rec = store.get(channel.tenant, m.group(0))
            if rec is not None and rec.kind == "ticket":
                self.state.http.set_bot_thread_ticket(channel.id, conv, rec.id)
                return rec.id
        known = self.state.http.bot_thread_ticket(channel.id, conv)
        if known:
            rec = store.get(channel.tenant, known)
            if rec is not None and rec.kind == "ticket":
                return known
        return None
