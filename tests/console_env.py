"""A casepilot server for the web console's browser tests and screenshots: the sample library (cases,
articles, FAQs, tickets, taxonomy) with the hash embedders, the sample tickets drafted into the review
queue, two extra tickets of our own whose problem no approved case covers, keys for each role, and
uvicorn on a free loopback port.

    with console_server(tmp) as env: env.url, env.keys["agent"], env.keys["reviewer"]
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.library import Library
from assistant.review import Review
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import SAMPLE, write_jsonl
from tests.test_api import Server

# tickets whose problem is in no sample case: approving a draft of one makes the next answer cite it
LOCK_TICKET = {
    "kind": "ticket", "id": "T-E2E-LOCK", "subject": "门锁网关升级固件后报 E-7788，手机配不上对",
    "channel": "在线客服", "product": "安居 SL-9 网关", "priority": "P2", "status": "closed", "csat": 5,
    "messages": [
        {"id": "m1", "role": "customer", "author": "王女士", "at": "2024-05-01T09:00:00+08:00",
         "text": "网关昨晚自动升级固件以后，App 里一直提示 E-7788 配对失败，门锁用不了远程开门了。"},
        {"id": "m2", "role": "agent", "author": "客服小安", "at": "2024-05-01T09:02:00+08:00",
         "text": "请先长按网关背面的复位键十秒，等指示灯变成蓝色慢闪。"},
        {"id": "m3", "role": "agent", "author": "客服小安", "at": "2024-05-01T09:03:00+08:00",
         "text": "E-7788 是固件升级后旧的配对密钥失效导致的，需要在 App 里删除网关后重新添加。"},
        {"id": "m4", "role": "customer", "author": "王女士", "at": "2024-05-01T09:10:00+08:00",
         "text": "删除后重新添加，配对成功了，远程开门恢复正常，谢谢。"}]}
SCANNER_TICKET = {
    "kind": "ticket", "id": "T-E2E-SCAN", "subject": "扫码枪读不出条码",
    "channel": "电话", "product": "晶彩 扫码枪", "priority": "P4", "status": "closed", "csat": 3,
    "messages": [
        {"id": "m1", "role": "customer", "author": "赵店长", "at": "2024-05-02T10:00:00+08:00",
         "text": "收银台的扫码枪突然读不出商品条码了，一直滴滴响。"},
        {"id": "m2", "role": "agent", "author": "客服小林", "at": "2024-05-02T10:02:00+08:00",
         "text": "请扫描说明书最后一页的恢复出厂设置条码，然后重新插拔数据线。"},
        {"id": "m3", "role": "customer", "author": "赵店长", "at": "2024-05-02T10:06:00+08:00",
         "text": "恢复出厂以后就能扫了。"}]}
# two tickets in which agents answered a question the library cannot (the gap groups' replies)
GAP_TICKETS = [
    {"kind": "ticket", "id": "T-GAP-1", "subject": "国际件寄蓝牙耳机", "product": "速达 国际件", "status": "closed",
     "messages": [
         {"id": "m1", "role": "customer", "author": "周先生", "at": "2024-05-03T14:00:00+08:00",
          "text": "速达国际件能寄带锂电池的蓝牙耳机去美国吗？"},
         {"id": "m2", "role": "agent", "author": "客服小周", "at": "2024-05-03T14:01:00+08:00",
          "text": "您好，请稍等，正在为您查询。"},
         {"id": "m3", "role": "agent", "author": "客服小周", "at": "2024-05-03T14:03:00+08:00",
          "text": "内置锂电池的电子产品可以寄，但电池容量不能超过100Wh，需要在寄件单上勾选“含锂电池”。"},
         {"id": "m4", "role": "agent", "author": "客服小周", "at": "2024-05-03T14:04:00+08:00",
          "text": "单独的锂电池和充电宝不能走国际件。请问还有其他可以帮到您的吗？"},
         {"id": "m5", "role": "customer", "author": "周先生", "at": "2024-05-03T14:06:00+08:00", "text": "好的，谢谢"}]},
    {"kind": "ticket", "id": "T-GAP-2", "subject": "国际快递锂电池", "product": "速达 国际件", "status": "closed",
     "messages": [
         {"id": "m1", "role": "customer", "author": "吴女士", "at": "2024-05-06T09:30:00+08:00",
          "text": "速達國際件能寄帶鋰電池的藍牙耳機去美國嗎"},
         {"id": "m2", "role": "agent", "author": "客服小林", "at": "2024-05-06T09:33:00+08:00",
          "text": "内置锂电池的电子产品可以寄，电池容量不能超过100Wh，寄件单上要勾选含锂电池。"},
         {"id": "m3", "role": "customer", "author": "吴女士", "at": "2024-05-06T09:35:00+08:00", "text": "明白了"}]},
]
OTHER_TICKET = {
    "kind": "ticket", "id": "T-OTHER", "subject": "冷库温控探头报警",
    "messages": [{"id": "m1", "role": "customer", "text": "冷库温控探头一直报警，货物有风险。"},
                 {"id": "m2", "role": "agent", "text": "请检查温控探头的电池，并把货物转运到备用冷库。"},
                 {"id": "m3", "role": "customer", "text": "换了电池就好了。"}]}


@dataclass
class ConsoleEnv:
    url: str
    keys: dict[str, str]
    app: Any
    settings: Settings
    drafts: dict[str, str] = field(default_factory=dict)  # ticket id -> draft case id


def console_settings(home: Path) -> Settings:
    return Settings(home=home, embedder="hash", passage_embedder="hash", ingest_batch_size=16)


@contextmanager
def console_server(tmp: Path, *, samples: int = 99, llm: str = "",
                   tickets: Sequence[dict[str, Any]] = ()) -> Iterator[ConsoleEnv]:
    """``samples``: how many of the sample tickets to draft (drafting takes about a second each);
    ``tickets``: more tickets to import and draft; ``llm``: the answer engine the server uses (set
    after drafting, which stays extractive)."""
    settings = console_settings(tmp / "home")
    app = create_app(settings, ApiSettings(rate_per_minute=0))
    store = app.state.casepilot.store
    keys = {r: create_key(app.state.casepilot.http, "default", r, f"console {r}")["key"] for r in ("agent", "reviewer", "admin")}
    keys["other-reviewer"] = create_key(app.state.casepilot.http, "other", "reviewer", "other tenant")["key"]
    lib = Library(settings, "default", store=store)
    Ingestor(lib).ingest_paths([SAMPLE, write_jsonl(tmp / "extra.jsonl",
                                                    [LOCK_TICKET, SCANNER_TICKET, *GAP_TICKETS, *tickets])])
    review = Review(lib, writer=Ingestor, actor="console-tests")
    drafts = {}
    sample_ids = sorted(r.id for r in store.records("default", kind="ticket") if r.id.startswith("T-2024"))
    for tid in [*sample_ids[:samples], SCANNER_TICKET["id"], LOCK_TICKET["id"], *(t["id"] for t in tickets)]:
        _, cid = review.draft(tid)
        if cid:
            drafts[tid] = cid
    lib.close()
    other = Library(settings, "other", store=store)
    Ingestor(other).ingest_paths([write_jsonl(tmp / "other.jsonl", [OTHER_TICKET])])
    _, cid = Review(other, writer=Ingestor).draft(OTHER_TICKET["id"])
    if cid:
        drafts[OTHER_TICKET["id"]] = cid
    other.close()
    if llm:
        settings.llm = llm
    with Server(app) as srv:
        yield ConsoleEnv(url=srv.url, keys=keys, app=app, settings=settings, drafts=drafts)


if __name__ == "__main__":  # python -m tests.console_env: a console to click through by hand
    import tempfile
    import time

    with tempfile.TemporaryDirectory() as d, console_server(Path(d)) as env:
        print(f"{env.url}/console/", *(f"{k}: {v}" for k, v in env.keys.items()), sep="\n", flush=True)
        while True:
            time.sleep(3600)
