"""The ratings' prior: votes from ratings and opened records, the per-rater cap and the bound, the
neighbourhood of similar questions, no change at all without ratings, and tenants kept apart."""

from __future__ import annotations

import json
import math
import uuid
from pathlib import Path

import numpy as np
import pytest

from assistant.embeddings import HashEmbedder
from assistant.errors import NotFound
from assistant.library import Library
from assistant.rating_prior import BOUND, SCALE, RatingPrior, votes_by_question
from assistant.settings import Settings
from assistant.store import Open, Rating, Store
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl

PRINTER = "打印机连不上WiFi怎么办"
BILLING = "发票抬头开错了怎么重开"


def test_votes_keep_each_raters_newest_rating_and_opens_it_did_not_cover() -> None:
    ratings = [Rating(1, "a", "ans1", False, PRINTER, ("C-1",)), Rating(2, "a", "ans1", True, PRINTER, ("C-1",)),
               Rating(3, "b", "ans1", False, PRINTER, ("C-1", "C-2")), Rating(4, "", "ans2", True, BILLING, ())]
    opens = [Open(1, "a", "ans1", "C-1", PRINTER), Open(2, "a", "ans1", "C-3", PRINTER),
             Open(3, "a", "ans1", "C-3", PRINTER), Open(4, "c", "ans1", "C-2", PRINTER)]
    votes = votes_by_question(ratings, opens, open_weight=0.25)
    # a's helpful replaced a's not helpful; a's open of the cited C-1 adds nothing; C-3 opened twice counts once;
    # the rating of an answer that cited nothing says nothing
    assert votes == {PRINTER: {("a", "C-1"): 1.0, ("b", "C-1"): -1.0, ("b", "C-2"): -1.0, ("a", "C-3"): 0.25,
                               ("c", "C-2"): 0.25}}


class FakeSource:
    """Ratings in memory, with unit vectors chosen per question."""

    def __init__(self) -> None:
        self.rating_writes = 0
        self.rows: list[Rating] = []

    def rate(self, rater: str, question: str, record: str, helpful: bool) -> None:
        self.rows.append(Rating(len(self.rows) + 1, rater, uuid.uuid4().hex, helpful, question, (record,)))
        self.rating_writes += 1

    def rating_mark(self, tenant: str) -> tuple[int, int]:
        return len(self.rows), 0

    def ratings(self, tenant: str) -> list[Rating]:
        return list(self.rows)

    def opens(self, tenant: str) -> list[Open]:
        return []


def unit(angle: float) -> np.ndarray:
    return np.array([math.cos(angle), math.sin(angle), 0.0], dtype=np.float32)


VECTORS = {PRINTER: unit(0.0), "打印机连不上无线网怎么办": unit(0.1), BILLING: unit(1.5)}


def prior_over(source: FakeSource) -> RatingPrior:
    return RatingPrior(source, "t", lambda qs: np.stack([VECTORS[q] for q in qs]), lambda q: VECTORS[q],
                       refresh_seconds=0)


def test_one_rater_cannot_bury_a_case_and_many_stay_within_the_bound() -> None:
    src = FakeSource()
    for _ in range(50):  # one rater, fifty times, on the question and its paraphrase
        src.rate("mallory", PRINTER, "C-1", False)
        src.rate("mallory", "打印机连不上无线网怎么办", "C-1", False)
    p = prior_over(src).factors(PRINTER, ["C-1", "C-2"])
    assert set(p) == {"C-1"} and p["C-1"].raters == 1 and p["C-1"].net == -1.0
    assert p["C-1"].factor == pytest.approx(BOUND ** math.tanh(-1 / SCALE)) and p["C-1"].factor > 0.89
    for n in range(40):
        src.rate(f"agent-{n}", PRINTER, "C-1", True)
    lifted = prior_over(src).factors(PRINTER, ["C-1"])["C-1"]
    assert lifted.raters == 41 and 1.24 < lifted.factor <= BOUND


def test_ratings_speak_only_for_questions_near_the_rated_ones() -> None:
    src = FakeSource()
    src.rate("a", PRINTER, "C-1", True)
    prior = prior_over(src)
    assert prior.factors("打印机连不上无线网怎么办", ["C-1"])["C-1"].factor > 1.0  # cosine 0.995
    assert prior.factors(BILLING, ["C-1"]) == {}  # cosine 0.07: unrelated


def _library(settings: Settings, tenant: str, store: Store | None = None) -> Library:
    return Library(settings, tenant, embedder=HashEmbedder(), store=store)


@pytest.fixture
def two_tenants(tmp_path: Path) -> tuple[Library, Library]:
    settings = Settings(home=tmp_path / "home", embedder="hash", ingest_batch_size=8, rating_prior=True,
                        rating_prior_refresh_seconds=0)
    a = _library(settings, "A")
    b = _library(settings, "B", store=a.store)
    cases = [case("C-1", "打印机连不上WiFi：路由器只开了5GHz"), case("C-2", "打印机连不上WiFi：驱动需要重装"),
             case("C-3", "发票抬头开错了：作废后重开", tags=["产品线/计费系统"])]
    for lib in (a, b):
        Ingestor(lib).ingest_paths([write_jsonl(tmp_path / f"{lib.tenant}.jsonl", cases)])
    return a, b


def rate(lib: Library, question: str, record: str, helpful: bool, rater: str) -> str:
    aid = uuid.uuid4().hex
    lib.store.log_answer(lib.tenant, {"id": aid, "question": question, "answer": "", "abstained": False,
                                      "citations": json.dumps([{"id": record}]), "support": 1.0, "engine": "test"})
    lib.store.add_feedback(lib.tenant, aid, helpful, rater=rater)
    return aid


def test_without_ratings_the_ranking_is_the_fusions_exactly(two_tenants: tuple[Library, Library]) -> None:
    a, _ = two_tenants
    off = Library(a.settings.model_copy(update={"rating_prior": False}), "A", embedder=HashEmbedder(), store=a.store)
    for q in (PRINTER, BILLING, "打印机"):
        assert a.search(q, 3) == off.search(q, 3)
        assert all("prior" not in h.explain for h in a.search(q, 3))


def test_ratings_move_a_record_for_the_same_question_in_their_tenant_only(
        two_tenants: tuple[Library, Library]) -> None:
    a, b = two_tenants
    before_a, before_b = a.search(PRINTER, 3), b.search(PRINTER, 3)
    low = before_a[1].id  # the second hit, lifted by helpful ratings of three agents
    for n in range(3):
        rate(a, PRINTER, low, True, f"api:agent{n}")
    after = a.search(PRINTER, 3)
    hit = next(h for h in after if h.id == low)
    assert hit.explain["prior"]["raters"] == 3 and hit.explain["prior"]["factor"] > 1.0
    assert hit.score > next(h for h in before_a if h.id == low).score
    assert b.search(PRINTER, 3) == before_b  # B's ranking is untouched by A's ratings
    assert a.search(BILLING, 3)[0].id == "C-3" and all("prior" not in h.explain for h in a.search(BILLING, 3))


def test_an_open_is_a_weak_positive_and_needs_a_known_answer_and_record(
        two_tenants: tuple[Library, Library]) -> None:
    a, b = two_tenants
    aid = rate(a, PRINTER, "C-3", False, "api:x")
    opened = a.store.add_open("A", aid, "C-2", rater="api:x")
    assert opened.record_id == "C-2" and opened.question == PRINTER
    prior = {h.id: h.explain.get("prior") for h in a.search(PRINTER, 3)}
    assert prior["C-2"]["net"] == 0.25  # 1 open, against a rating's 1
    with pytest.raises(NotFound):
        b.store.add_open("B", aid, "C-2")  # A's answer is unknown in B
    with pytest.raises(NotFound):
        a.store.add_open("A", aid, "C-404")
    assert b.store.opens("B") == []
