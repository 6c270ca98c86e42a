"""The learned check on drafted sentences (``assistant/drafting/sentence_model.py``): the shipped weights
load, training runs on a small sample written here, a sentence its model finds unlikely is dropped while
a list's steps and English sentences stay with the rules, and the held-out annotation is never trained on."""

from __future__ import annotations

from assistant.drafting import draft_extractive
from assistant.drafting.sentence_model import FEATURES, SentenceModels, contexts, features, shipped
from assistant.logistic import LogisticModel
from assistant.types import CASE_SECTIONS
from evals.train_drafts import TUNING, fit, sentence_rows, train


def chat(tid: str, *lines: tuple[str, str]) -> dict:
    msgs = [{"id": f"m{n}", "role": role, "text": text} for n, (role, text) in enumerate(lines, 1)]
    return {"id": tid, "status": "closed", "messages": msgs}


def span(m: str, text: str, *labels: str) -> dict:
    return {"m": m, "at": 0, "labels": list(labels), "text": text}


def sample() -> tuple[list[dict], dict[str, dict]]:
    """Six small annotated chats: a menu entry, then the problem, a finding, a step and thanks."""
    gold, tickets = [], {}
    for n, (menu, problem, finding, step) in enumerate([
        ("订单业务咨询", "我的快递三天没动了", "这边看包裹在站点滞留了", "建议您联系站点重新派送"),
        ("发票类咨询", "发票抬头开错了能改吗", "查到发票已经开出", "请您在发票详情里申请换开"),
        ("售后咨询", "耳机左边没有声音", "显示还在保修期内", "请您在订单详情里申请维修"),
        ("物流咨询", "地址写错了想改一下", "订单显示还没有发货", "可以在订单详情里修改地址"),
        ("订单业务咨询", "优惠券没有返还", "查询到订单已经取消", "建议您联系客服申请补发优惠券"),
        ("发票类咨询", "电子发票没收到", "显示发票发送失败了", "请您在订单详情里重新发送发票"),
    ]):
        tid = f"T{n}"
        tickets[tid] = chat(tid, ("customer", menu), ("customer", problem), ("agent", finding), ("agent", step),
                            ("customer", "好的，谢谢"))
        gold.append({"set": "jddc", "id": tid, "draft": True, "spans": [
            span("m1", menu, "other"), span("m2", problem, "problem"), span("m3", finding, "diagnosis"),
            span("m4", step, "solution"), span("m5", "好的，谢谢", "outcome")]})
    return gold, tickets


def test_the_shipped_models_load_one_per_section_with_a_threshold() -> None:
    models = shipped()
    assert models is not None and set(models.models) == set(CASE_SECTIONS)
    for m in models.models.values():
        assert set(m.features) <= set(FEATURES) and 0.0 <= m.threshold < 1.0


def test_training_runs_on_a_small_sample_and_learns_the_menu_entry_is_no_problem() -> None:
    gold, tickets = sample()
    models, report = train(gold, tickets, l2=1.0, folds=2, grid=(0.0, 0.5))
    assert set(models) == set(CASE_SECTIONS) and set(report["thresholds"].values()) <= {0.0, 0.5}
    ctx = contexts(tickets["T0"]["messages"])
    menu, problem = features("订单业务咨询", ctx[0]), features("我的快递三天没动了", ctx[1])
    assert models["problem"].probability(problem) > models["problem"].probability(menu)


def test_a_sentence_its_model_finds_unlikely_is_dropped_but_list_steps_and_english_stay() -> None:
    gold, tickets = sample()
    fitted = fit(sentence_rows(gold, tickets), 1.0)
    strict = SentenceModels({s: LogisticModel(m.features, m.mean, m.scale, m.coef, m.intercept, 1.01 if s == "problem"
                                              else 0.0) for s, m in fitted.items()})
    ticket = chat("T-x", ("customer", "耳机左边没有声音"), ("agent", "请按以下步骤操作：\n1. 打开设置\n2. 重新配对耳机"),
                  ("customer", "好了，谢谢"))
    rules = draft_extractive(ticket, learned=False)
    assert rules.section("problem") and "打开设置" in rules.section("solution")
    judged = draft_extractive(ticket, learned=strict)
    assert not judged.section("problem")  # no probability reaches 1.01
    assert judged.section("solution") == rules.section("solution")  # a list's steps are kept whole
    english = chat("T-en", ("customer", "I cannot open a second savings account online."),
                   ("agent", "Please call our Savings Desk at 555-010-2244 to open the second account."))
    assert draft_extractive(english, learned=strict).section("problem") == \
        draft_extractive(english, learned=False).section("problem") != ""


def test_the_trainer_reads_the_tuning_annotations_only() -> None:
    assert [p.name for p in TUNING] == ["draft_gold.jsonl", "draft_gold_heldout.jsonl"]
