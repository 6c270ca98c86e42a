"""Long articles: cut at their headings, each piece carrying its heading path for both retrievers;
search shows where in the article a hit is; answers quote the section retrieval matched; the
fusion that lets a sharply peaked retriever outvote a flat one; the long-document dev set and its
keyword baselines."""

from __future__ import annotations

import numpy as np
import pytest

from assistant.answering import Assistant, matched_text
from assistant.chunking import chunk_record
from assistant.context import ContextRecord
from assistant.extractive import ExtractiveEngine
from assistant.headings import PATH_SEP, article_sections, heading_sections, section_text
from assistant.index.filters import Filters
from assistant.library import Library
from assistant.retrieval import Candidate, HybridRetriever, per_record
from assistant.types import PASSAGE_SPACE, QUESTION_SPACE, Article
from evals.devdata import DEFAULT_DEV as DEV_DATA
from evals.devdata import long_document_set
from evals.longdoc_eval import BM25Baseline, char_chunks, paired_bootstrap, reciprocal_ranks, rrf
from ingestion.pipeline import Ingestor

MANUAL = """# 打印机使用手册

本手册适用于 HP-M227 系列。

## 安装指南

### 无线网络

#### 5GHz

打印机只支持 2.4GHz 频段。路由器只开了 5GHz 时，请在路由器上打开 2.4GHz 频段。

#### 信号弱

把打印机移到离路由器三米以内，避开微波炉。

## 卡纸处理

打开后盖，双手平稳取出卡住的纸张。

```
# 这不是标题，是代码块里的注释
net stop spooler
```
"""


def test_heading_sections_give_each_stretch_of_text_its_heading_path() -> None:
    got = heading_sections(MANUAL)
    assert [p for p, _ in got] == [
        ("打印机使用手册",),
        ("打印机使用手册", "安装指南", "无线网络", "5GHz"),
        ("打印机使用手册", "安装指南", "无线网络", "信号弱"),
        ("打印机使用手册", "卡纸处理"),
    ]
    assert "# 这不是标题" in got[-1][1]  # a fenced code block's '#' line is text, not a heading
    assert heading_sections("没有标题的正文。\n\n第二段。") == [((), "没有标题的正文。\n\n第二段。")]


def test_an_opening_heading_that_repeats_the_title_is_not_part_of_the_path() -> None:
    paths = [p for p, _ in article_sections("打印机使用手册", MANUAL)]
    assert paths[0] == () and paths[1] == ("安装指南", "无线网络", "5GHz")
    assert section_text("打印机使用手册", MANUAL, PATH_SEP.join(("安装指南", "无线网络", "信号弱"))).startswith("把打印机")
    assert section_text("打印机使用手册", MANUAL, "没有这一节") == ""


def test_article_chunks_carry_their_heading_path_into_both_indexes() -> None:
    chunks = chunk_record(Article(id="KB-1", title="打印机使用手册", body=MANUAL))
    body = [c for c in chunks if c.section == "body"]
    five = next(c for c in body if "2.4GHz 频段" in c.text)
    assert five.heading == "安装指南 > 无线网络 > 5GHz"
    assert five.index_text.startswith("打印机使用手册 > 安装指南 > 无线网络 > 5GHz")  # what bm25 and the passage space see
    assert five.keyword and five.space == PASSAGE_SPACE
    assert "####" not in five.text  # the heading lines are context, not body text
    headings = [c for c in chunks if c.section == "heading"]
    assert {c.heading for c in headings} == {"安装指南 > 无线网络 > 5GHz", "安装指南 > 无线网络 > 信号弱", "卡纸处理"}
    assert all(c.space == QUESTION_SPACE and not c.keyword for c in headings)
    assert len({c.id for c in chunks}) == len(chunks)


def test_faq_answers_are_chunked_as_before() -> None:
    chunks = chunk_record(Article(id="FAQ-1", title="如何重置密码？", body="## 步骤\n\n在登录页点忘记密码。", faq=True))
    assert [c.section for c in chunks] == ["title", "view", "answer"]
    assert all(c.heading == "" for c in chunks)


@pytest.fixture
def manual_library(library: Library, ingestor: Ingestor) -> Library:
    ingestor.ingest_records([
        Article(id="KB-1", title="打印机使用手册", body=MANUAL),
        Article(id="KB-2", title="发票开具说明", body="## 专票\n\n增值税专用发票需要填写税号。\n\n## 普票\n\n普通发票可以开给个人。"),
    ])
    return library


def test_search_names_the_heading_and_shows_the_text_under_it(manual_library: Library) -> None:
    hits = manual_library.search("微波炉 信号弱 打印机离路由器多远", 3)
    assert hits[0].id == "KB-1" and hits[0].heading == "安装指南 > 无线网络 > 信号弱"
    assert "三米以内" in hits[0].snippet and hits[0].section == "body"
    assert hits[0].to_dict()["heading"] == "安装指南 > 无线网络 > 信号弱"
    # a hit on a heading chunk shows the first piece of text under that heading, not the heading alone
    stored = manual_library.store.chunks(manual_library.tenant)
    heading = next(c for c in stored if c.section == "heading" and c.heading.endswith("卡纸处理"))
    under = manual_library.store.section_chunks(manual_library.tenant, [("KB-1", heading.heading)])
    assert "取出卡住的纸张" in under[("KB-1", "卡纸处理")].text


def test_headings_survive_the_store_round_trip(manual_library: Library) -> None:
    stored = manual_library.store.chunks(manual_library.tenant)
    assert {c.heading for c in stored if c.record_id == "KB-2" and c.section == "body"} == {"专票", "普票"}
    by_id = manual_library.store.chunks_by_id(manual_library.tenant, [c.id for c in stored])
    assert all(by_id[c.id].heading == c.heading for c in stored)


def test_the_answer_quotes_the_section_retrieval_matched(manual_library: Library) -> None:
    hit = next(h for h in manual_library.search("卡纸了怎么取出纸张", 3) if h.id == "KB-1")
    rec = manual_library.store.get(manual_library.tenant, "KB-1")
    assert rec is not None
    ctx = ContextRecord(hit, rec)
    place = hit.heading.rsplit(PATH_SEP, 1)[-1]
    units = ExtractiveEngine.units_of(ctx)
    assert units and all(u.heading == place for _, u in units)
    # coverage, and so abstention, is judged on that section, not on every word of the manual
    assert "2.4GHz" not in matched_text(ctx) and place in matched_text(ctx)
    answer = Assistant(manual_library, support_threshold=0.0, log=False).ask("卡纸了怎么取出纸张")
    assert answer.citations and all(c.id == "KB-1" for c in answer.citations)
    assert any("取出卡住的纸张" in c.quote for c in answer.citations)
    assert not any("2.4GHz" in c.quote for c in answer.citations)


class Listed:
    def __init__(self, name: str, hits: list[tuple[str, float]]) -> None:
        self.name = name
        self.hits = hits

    def candidates(self, query: str, n: int, filters: Filters) -> list[Candidate]:
        return [Candidate(cid, s, {self.name: i + 1}, {self.name: s}) for i, (cid, s) in enumerate(self.hits[:n])]


# what a question over long documents looks like: the dense similarities of many headings differ in
# the third decimal, while one document's keyword score stands far above the rest (and the dense
# list's first is the keyword list's second)
FLAT = Listed("question", [(f"D-{i}#heading.0#x", 0.87 - i * 0.001) for i in range(1, 31)])
PEAKED = Listed("keyword", [("D-99#body.0#y", 40.0), ("D-1#body.0#z", 9.9)]
                + [(f"D-{i}#body.0#z", 9.8 - (i - 40) * 0.1) for i in range(40, 70)])


def test_sigma_fusion_lets_a_clear_keyword_match_outvote_a_flat_dense_list() -> None:
    weights = {"question": 1.0, "keyword": 1.0}
    minmax = HybridRetriever([FLAT, PEAKED], fusion="score", weights=weights).candidates("q", 50, Filters())
    sigma = HybridRetriever([FLAT, PEAKED], fusion="sigma", weights=weights).candidates("q", 50, Filters())
    assert minmax[0].chunk_id.startswith("D-1#")  # min-max hands the flat list's first a full vote
    assert sigma[0].chunk_id.startswith("D-99#")
    assert all(0.0 <= c.score <= 1.0 for c in sigma)


def test_sigma_fusion_gives_a_full_vote_to_a_clear_first_of_a_short_list() -> None:
    rare = Listed("keyword", [("D-5#body.0#a", 9.0), ("D-6#body.0#b", 1.0)])  # a rare word in two records
    got = HybridRetriever([FLAT, rare], fusion="sigma", weights={"question": 1.0, "keyword": 1.0})
    contributions = got._contributions("keyword", rare.candidates("q", 50, Filters()), 50)
    assert contributions[0] == 1.0 and contributions[1] == 0.0
    with pytest.raises(ValueError, match="sigma"):
        HybridRetriever([FLAT], fusion="minmax")


def test_keyword_baselines_and_the_paired_bootstrap() -> None:
    base = BM25Baseline([("A", "打印机连不上无线网络"), ("B", "发票抬头开错了"), ("B", "重开发票需要作废原票")])
    assert base.rank("发票怎么重开") == ["B"]  # a document appears once, however many units matched
    assert base.rank("天气") == []
    assert [len(c) for c in char_chunks("字" * 650)] == [300, 300, 50]
    assert rrf([["A", "B"], ["B", "C"]])[0] == "B"
    rr = reciprocal_ranks([["A", "B"], ["C"], []], ["B", "C", "A"])
    assert rr.tolist() == [0.5, 1.0, 0.0]
    d, lo, hi = paired_bootstrap(np.zeros(200), np.full(200, 0.1))
    assert d == pytest.approx(0.1) and lo == pytest.approx(0.1) and hi == pytest.approx(0.1)
    d, lo, hi = paired_bootstrap(np.array([0.0, 1.0] * 50), np.array([1.0, 0.0] * 50))
    assert d == 0.0 and lo < 0 < hi


@pytest.mark.skipif(not (DEV_DATA / "cmrc2018").is_dir(), reason=f"{DEV_DATA / 'cmrc2018'} not found")
def test_the_long_document_dev_set_is_built_from_real_passages() -> None:
    ds = long_document_set(DEV_DATA)
    sizes = [len(d["body"]) for d in ds.docs]
    assert 100 < len(ds.docs) < 200 and 2500 < sum(sizes) / len(sizes) < 3500
    by_id = {d["id"]: d for d in ds.docs}
    for q in ds.questions[::97]:  # the gold document holds the passage under its heading
        assert f"## {q['heading']}\n" in by_id[q["gold"]]["body"]
    held_out = {q["heading"] for q in ds.unanswerable}
    assert held_out and not any(f"## {h}\n" in d["body"] for d in ds.docs for h in list(held_out)[:20])
    assert long_document_set(DEV_DATA).docs[5]["body"] == ds.docs[5]["body"]  # the same every time


def test_sigma_measures_the_spread_over_chunks_not_records() -> None:
    # two long documents hold all 50 chunks a dense search returned, their scores within 0.002: the
    # first document must not get a full vote over the second for a difference of 0.00004
    hits = [(f"D-{1 + i % 2}#body.{i}#x", 0.870 - i * 0.00004) for i in range(50)]
    cands = per_record("question", hits, 50)
    assert [c.chunk_id[:3] for c in cands] == ["D-1", "D-2"]
    votes = HybridRetriever([], fusion="sigma")._contributions("question", cands, 50)
    assert abs(votes[0] - votes[1]) < 0.05 and votes[0] < 0.7
    single = per_record("keyword", [("D-7#body.0#k", 3.0)], 50)  # one match: a full vote
    assert HybridRetriever([], fusion="sigma")._contributions("keyword", single, 50) == [1.0]


def test_the_engine_reads_headings_as_chunking_does() -> None:
    from assistant.extractive import units

    body = ("## 卡纸处理\n\n打开后盖取出纸张。\n\n```\n# 这是注释\nnet stop spooler\n```\n\n"
            "取出后重新放好纸盒。\n\n## C#\n\n用 C# 调用打印接口。\n\n#1号设备需要单独处理。")
    assert [p for p, _ in heading_sections(body)] == [("卡纸处理",), ("C#",)]
    got = {u.text: u.heading for u in units("body", body)}
    assert got["取出后重新放好纸盒。"] == "卡纸处理"  # a '#' line inside a code block is not a heading
    assert got["用 C# 调用打印接口。"] == "C#" and got["#1号设备需要单独处理。"] == "C#"


def test_a_respelt_heading_gives_new_chunk_ids() -> None:
    a = chunk_record(Article(id="KB-1", title="手册", body="## 設定\n\n打开设置页面。"))
    b = chunk_record(Article(id="KB-1", title="手册", body="## 设定\n\n打开设置页面。"))
    body_a, body_b = (next(c for c in cs if c.section == "body") for cs in (a, b))
    assert body_a.index_text == body_b.index_text and body_a.id != body_b.id and body_b.heading == "设定"
