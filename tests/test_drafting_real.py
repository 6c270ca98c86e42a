"""Drafts from real chats keep what a reviewer would keep: no greeting, transfer request, waiting
message, assurance, apology, emoji or rating request as problem, solution or outcome; no customer
question as an outcome; English and German tickets drafted like Chinese ones. The texts here are
written for these tests in the style of the failures; the dev-data check skips without ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from assistant.drafting import Draft, DraftSentence, draft_extractive
from evals.devdata import DEFAULT_DEV as DEV_DATA
from evals.draft_eval import GOLD, gold_report, jddc_tickets, load_gold, section_scores, support_tickets

KEPT = ("problem", "solution", "outcome")


def chat(*lines: tuple[str, str]) -> dict:
    msgs = [{"id": f"m{n}", "role": role, "text": text} for n, (role, text) in enumerate(lines, 1)]
    return {"id": "T-real", "status": "closed", "messages": msgs}


def kept(d: Draft) -> str:
    return "\n".join(d.section(s) for s in KEPT)


def test_greetings_and_transfer_requests_are_not_the_problem() -> None:
    d = draft_extractive(chat(("customer", "人工服务 你好 在不"), ("customer", "我要转人工"),
                              ("agent", "亲爱的，请问有什么可以为您效劳的呢?"),
                              ("customer", "我买的电水壶底座不通电，指示灯不亮"),
                              ("agent", "建议您在订单详情里点申请售后，选择换货，师傅上门取件"),
                              ("customer", "好的，换货申请提交了，谢谢")))
    assert not d.skipped
    assert d.section("problem") == "我买的电水壶底座不通电，指示灯不亮。"
    assert "人工" not in kept(d) and "效劳" not in d.section("diagnosis") + kept(d)


def test_waiting_messages_and_assurances_are_not_solutions() -> None:
    d = draft_extractive(chat(("customer", "发票抬头开错了，能改成公司吗"),
                              ("agent", "请稍等 马上帮您看看哦"),
                              ("agent", "^_^小妹一定尽心尽力为您处理的哟"),
                              ("agent", "还请您稍等，正在为您查询~ 订单完成后可以在发票详情里申请换开公司抬头"),
                              ("customer", "好的，已经申请了，谢谢")))
    assert d.section("solution") == "订单完成后可以在发票详情里申请换开公司抬头。"
    assert "尽心尽力" not in kept(d) and "稍等" not in kept(d)


def test_apologies_emoji_and_rating_requests_are_never_kept() -> None:
    d = draft_extractive(chat(("customer", "快递三天没动了😭"),
                              ("agent", "非常抱歉给您带来不便 已经帮您催促站点今天派送O(∩_∩)O~"),
                              ("customer", "收到了，谢谢🙏"),
                              ("agent", "亲，给我一个评价好嘛，点击右下角小红心哦")))
    assert "抱歉" not in kept(d) and "不便" not in kept(d)
    assert "评价" not in kept(d) and "∩" not in kept(d) and "😭" not in kept(d) and "🙏" not in kept(d)
    assert "已经帮您催促站点今天派送" in d.section("solution")
    assert d.section("outcome") == "收到了，谢谢。"


def test_a_customers_question_is_never_the_outcome() -> None:
    d = draft_extractive(chat(("customer", "耳机左边没有声音"),
                              ("agent", "请您在设置里重新配对耳机"),
                              ("customer", "谢谢，那保修是多久呢?"),
                              ("customer", "重新配对以后好了，谢谢")))
    assert "保修" not in d.section("outcome") + d.section("diagnosis")
    assert "重新配对以后好了" in d.section("outcome")


def test_promises_and_waiting_are_not_steps_and_a_records_check_is_a_finding() -> None:
    d = draft_extractive(chat(("customer", "退货的钱一直没退回来"),
                              ("agent", "我帮您看一下~~#"),
                              ("agent", "这边看仓库还没有签收退回的包裹"),
                              ("agent", "会尽快和您联系的哦 审核人员也是需要处理时间的哦"),
                              ("agent", "建议您把快递单号发给售后专员，签收后当天退款"),
                              ("customer", "好的，明白了，谢谢")))
    assert d.section("solution") == "建议您把快递单号发给售后专员，签收后当天退款。"
    assert "这边看仓库还没有签收退回的包裹" in d.section("diagnosis")
    assert "看一下" not in kept(d) and "尽快" not in kept(d) and "处理时间" not in kept(d)


def test_a_customers_follow_up_without_a_question_mark_and_a_sales_push_are_dropped() -> None:
    d = draft_extractive(chat(("customer", "这款台灯有几档亮度"),
                              ("agent", "亲亲，台灯有三档亮度，建议您长按开关无极调光"),
                              ("customer", "那充电头有没送的啊"),
                              ("customer", "为啥详情页写的是两档"),
                              ("agent", "建议您优先下单哦，活动今天结束"),
                              ("customer", "好的，知道了")))
    assert "建议您长按开关无极调光" in d.section("solution")
    assert "优先下单" not in kept(d)
    assert "充电头" not in d.section("diagnosis") + kept(d) and "两档" not in d.section("diagnosis") + kept(d)


def test_an_answer_after_an_offer_of_help_in_the_same_line_is_kept() -> None:
    d = draft_extractive(chat(("customer", "这两个型号有什么区别"),
                              ("agent", "您好，很高兴为您服务，请问有什么可以帮您的呢 一个带内存卡一个不带，建议您选带卡的那款"),
                              ("customer", "好的，谢谢")))
    assert not d.skipped
    assert "建议您选带卡的那款" in d.section("solution")
    assert "帮您的呢" not in d.section("diagnosis") + kept(d)


def test_an_english_ticket_is_drafted_like_a_chinese_one() -> None:
    d = draft_extractive(chat(
        ("customer", "Dear Support Team,\n\nI hope this message finds you well. I cannot open a second savings "
                     "account online. I have already tried two browsers. Thank you in advance."),
        ("agent", "Thank you for reaching out. Please call our Savings Desk at 555-010-2244 to open the second "
                  "account. We apologize for the inconvenience. If you have any further questions, please let "
                  "us know.")))
    assert not d.skipped
    assert d.section("problem") == "I cannot open a second savings account online."
    assert "I have already tried two browsers." in d.section("diagnosis")
    assert d.section("solution") == "Please call our Savings Desk at 555-010-2244 to open the second account."
    assert "Thank" not in kept(d) and "apologize" not in kept(d) and "Dear" not in kept(d)


def test_a_german_ticket_is_drafted_too_and_a_request_for_details_is_not_a_solution() -> None:
    d = draft_extractive(chat(("customer", "Sehr geehrtes Support-Team,\n\nder Drucker im zweiten Stock druckt "
                                           "nur leere Seiten aus."),
                              ("agent", "Vielen Dank für Ihre Nachricht. Wir empfehlen, die Tonerkartusche neu "
                                        "einzusetzen und den Drucker neu zu starten.")))
    assert not d.skipped and "Tonerkartusche" in d.section("solution") and "Vielen Dank" not in kept(d)
    asks = draft_extractive(chat(("customer", "Our reporting dashboard shows no data since Monday."),
                                 ("agent", "Could you please provide the exact error message and your browser "
                                           "version?")))
    assert asks.skipped == "no solution in the conversation"


def test_precision_and_recall_per_section_on_a_tiny_example() -> None:
    text = "请稍等 建议您重启路由器"
    ticket = {"id": "T", "messages": [{"id": "m1", "role": "customer", "text": "连不上网"},
                                      {"id": "m2", "role": "agent", "text": text}]}
    gold = [{"set": "x", "id": "T", "draft": True, "spans": [
        {"m": "m1", "at": 0, "labels": ["problem"], "text": "连不上网"},
        {"m": "m2", "at": 0, "labels": ["waiting"], "text": "请稍等"},
        {"m": "m2", "at": 4, "labels": ["solution"], "text": "建议您重启路由器"}]}]
    good = Draft("T", "", [DraftSentence("problem", "连不上网", ["m1"]),
                           DraftSentence("solution", "建议您重启路由器", ["m2"])])
    scores = section_scores(gold, {"T": ticket}, {"T": good})
    assert scores["problem"]["precision"] == scores["solution"]["precision"] == 1.0
    assert scores["solution"]["recall"] == 1.0 and scores["diagnosis"]["drafted"] == 0
    bad = Draft("T", "", [DraftSentence("solution", "请稍等", ["m2"]), DraftSentence("outcome", "连不上网", ["m1"])])
    scores = section_scores(gold, {"T": ticket}, {"T": bad})
    assert scores["solution"]["precision"] == 0.0 and scores["outcome"]["precision"] == 0.0
    assert scores["problem"]["recall"] == 0.0 and scores["solution"]["recall"] == 0.0


def test_the_gold_annotation_loads() -> None:
    gold = load_gold(GOLD)
    assert [sum(g["set"] == s for g in gold) for s in ("jddc", "support_tickets_en")] == [40, 20]
    labels = {lab for g in gold for sp in g["spans"] for lab in sp["labels"]}
    assert {"problem", "diagnosis", "solution", "outcome", "greeting", "waiting", "rating"} <= labels
    assert all(sp["at"] >= 0 and sp["text"] for g in gold for sp in g["spans"])
    json.dumps(gold)  # plain data


@pytest.mark.skipif(not (Path(DEV_DATA) / "jddc").is_dir() or not (Path(DEV_DATA) / "support_tickets").is_dir(),
                    reason=f"{DEV_DATA} not found")
def test_the_annotation_matches_the_dev_conversations_and_the_drafts_are_precise() -> None:
    tickets = {t["id"]: t for t in jddc_tickets(DEV_DATA) + support_tickets(DEV_DATA, "en")}
    for g in load_gold(GOLD):
        texts = {m["id"]: m["text"] for m in tickets[g["id"]]["messages"]}
        assert all(texts[sp["m"]][sp["at"]:sp["at"] + len(sp["text"])] == sp["text"] for sp in g["spans"])
    report = gold_report(DEV_DATA)
    for name in ("jddc", "support_tickets_en"):
        for sec in KEPT:
            p = report[name]["sections"][sec]["precision"]
            assert p != p or p >= 0.8, (name, sec, p)  # nan: nothing drafted in that section


def test_a_url_in_an_agents_message_stays_whole_in_the_draft() -> None:
    ticket = {"kind": "ticket", "id": "T-URL", "subject": "退款进度查询", "status": "closed", "messages": [
        {"id": "m1", "role": "customer", "text": "退款申请提交三天了还没到账，在哪里能看到进度？"},
        {"id": "m2", "role": "agent", "text": "请点击 https://help.example.com/refund?lang=zh&step=2 重新提交申请。"},
        {"id": "m3", "role": "customer", "text": "看到了，已经到账了，谢谢。"}]}
    d = draft_extractive(ticket, learned=False)  # how the rules cut it (the "?" makes it a question: a finding)
    assert any("https://help.example.com/refund?lang=zh&step=2 重新提交申请" in x.text for x in d.sentences)


def test_the_held_out_annotation_loads_with_known_labels_and_matches_its_sessions() -> None:
    known = {"problem", "diagnosis", "solution", "outcome", "greeting", "filler", "transfer", "waiting",
             "politeness", "apology", "emoji", "rating", "procedural", "question", "other"}
    held = load_gold(GOLD.with_name("draft_gold_heldout.jsonl"))
    assert len(held) == 40 and {g["set"] for g in held} == {"jddc"}
    assert all(sp["labels"] and set(sp["labels"]) <= known for g in held for sp in g["spans"])
    assert all(sp["at"] >= 0 and sp["text"] for g in held for sp in g["spans"])
    assert not {g["id"] for g in held} & {g["id"] for g in load_gold(GOLD)}  # held out: no in-sample session
    if not (Path(DEV_DATA) / "jddc").is_dir():
        pytest.skip(f"{DEV_DATA} not found: spans not checked against the conversations")
    sessions = jddc_tickets(DEV_DATA)
    assert [g["id"] for g in held] == [t["id"] for t in sessions[3::7][:40]]  # the 4th, 11th, 18th, … session
    tickets = {t["id"]: t for t in sessions}
    for g in held:
        texts = {m["id"]: m["text"] for m in tickets[g["id"]]["messages"]}
        assert all(texts[sp["m"]][sp["at"]:sp["at"] + len(sp["text"])] == sp["text"] for sp in g["spans"])


def test_the_second_held_out_annotation_is_its_own_sessions() -> None:
    known = {"problem", "diagnosis", "solution", "outcome", "greeting", "filler", "transfer", "waiting",
             "politeness", "apology", "emoji", "rating", "procedural", "question", "other"}
    held = load_gold(GOLD.with_name("draft_gold_heldout2.jsonl"))
    assert len(held) == 40 and {g["set"] for g in held} == {"jddc"}
    assert all(sp["labels"] and set(sp["labels"]) <= known for g in held for sp in g["spans"])
    others = {g["id"] for f in ("draft_gold.jsonl", "draft_gold_heldout.jsonl") for g in load_gold(GOLD.with_name(f))}
    assert not {g["id"] for g in held} & others
    if not (Path(DEV_DATA) / "jddc").is_dir():
        pytest.skip(f"{DEV_DATA} not found: spans not checked against the conversations")
    sessions = jddc_tickets(DEV_DATA)
    assert [g["id"] for g in held] == [t["id"] for t in sessions[4::7][:40]]  # the 5th, 12th, 19th, … session
    tickets = {t["id"]: t for t in sessions}
    for g in held:
        msgs = tickets[g["id"]]["messages"]
        texts = {m["id"]: m["text"] for m in msgs}
        assert all(texts[sp["m"]][sp["at"]:sp["at"] + len(sp["text"])] == sp["text"] for sp in g["spans"])
        assert {sp["m"] for sp in g["spans"]} == set(texts)  # every message annotated


@pytest.mark.skipif(not (Path(DEV_DATA) / "jddc").is_dir(), reason=f"{DEV_DATA} not found")
def test_drafts_are_precise_on_the_first_held_out_set_now_a_tuning_set() -> None:
    report = gold_report(DEV_DATA, gold_path=GOLD.with_name("draft_gold_heldout.jsonl"))
    for sec in (*KEPT, "diagnosis"):
        p = report["jddc"]["sections"][sec]["precision"]
        assert p != p or p >= 0.8, (sec, p)


def test_paired_ratio_bootstrap_resamples_conversations_and_recomputes_the_ratio_of_sums() -> None:
    from evals.draft_eval import paired_ratio_bootstrap

    # precision is a ratio of sums: before 1 of 10 sentences right (0.1), not the mean of 1/1 and 0/9
    before, after = [(1, 1), (0, 9)], [(1, 1), (9, 9)]
    d, lo, hi = paired_ratio_bootstrap(before, after, resamples=500)
    assert d == pytest.approx(0.9) and 0.0 <= lo <= d <= hi <= 1.0
    # a resample of only the first conversation changes nothing; of only the second, +1.0
    assert lo == pytest.approx(0.0) and hi == pytest.approx(1.0)
    same = [(1, 2), (0, 3), (2, 2)]
    assert paired_ratio_bootstrap(same, same) == (0.0, 0.0, 0.0)
    assert paired_ratio_bootstrap(same, same, seed=1) == paired_ratio_bootstrap(same, same, seed=1)
    better = [(2, 2), (1, 3), (2, 2)]  # a hit more in two conversations: worse in no resample
    d, lo, hi = paired_ratio_bootstrap(same, better)
    assert d == pytest.approx(2 / 7) and lo >= 0.0 and hi > d
    nan = paired_ratio_bootstrap([(0, 0), (0, 0)], [(1, 1), (0, 1)])  # nothing drafted before: no precision
    assert all(x != x for x in nan)
    with pytest.raises(ValueError):
        paired_ratio_bootstrap([(1, 1)], [(1, 1), (0, 1)])


def test_paired_gold_changes_agree_with_the_two_gold_reports() -> None:
    from evals.draft_eval import paired_gold_changes

    if not (Path(DEV_DATA) / "jddc").is_dir() or not (Path(DEV_DATA) / "support_tickets").is_dir():
        pytest.skip(f"{DEV_DATA} not found")

    def nothing(t: dict) -> Draft:
        return Draft(ticket_id=t["id"], title="", skipped="no solution")

    changes = paired_gold_changes(DEV_DATA, nothing, draft_extractive)
    after = gold_report(DEV_DATA)
    for name, secs in after.items():
        for sec, c in secs["sections"].items():
            d, lo, hi = changes[name][sec]["recall"]
            if c["gold"]:  # from drafting nothing, the change of recall is the recall
                assert d == pytest.approx(c["recall"], abs=1e-3) and lo <= d <= hi
            assert all(x != x for x in changes[name][sec]["precision"])  # nothing drafted before


def test_a_sentence_with_words_around_a_placeholder_is_kept_and_a_bare_placeholder_is_not() -> None:
    from assistant.drafting.cues import placeholder_only, split_message

    assert placeholder_only("[订单x]") and placeholder_only("订单 [订单x] [数字x]") is False
    assert placeholder_only("[订单x] [数字x]") and placeholder_only("ID: [数字x]")
    assert not placeholder_only("包裹预计[数字x]号给您送达") and not placeholder_only("您之后重新下单购买可以[姓名x]")
    assert [s for s, _ in split_message("包裹预计[数字x]号给您送达", agent=True)] == ["包裹预计[数字x]号给您送达"]
    d = draft_extractive(chat(("customer", "我的快递什么时候到"), ("agent", "[订单x]"),
                              ("agent", "包裹预计[数字x]号给您送达，请您注意查收"), ("customer", "好的，收到了")))
    assert "[数字x]号给您送达" in d.section("solution") and "[订单x]" not in d.section("solution")
