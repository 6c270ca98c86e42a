"""report.md and report.html of a run, from one list of blocks, with matplotlib plots (Agg backend,
PNG files next to the reports; the HTML embeds them, so it can be mailed on its own).

For answer sets the report shows the metrics (gated ones marked), notes on what was not computed
and why, where answers went wrong (retrieval miss: no gold record among those the engine read;
generation error: a gold record was read but another was cited; abstained with the gold record
retrieved; answered an unanswerable question), per-category results, and the worst items with their
retrieved context, each record marked ✓ when it is gold.
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from assistant.types import CASE_SECTIONS

from . import metrics as M

Block = tuple[Any, ...]
WORST = 15
SEVERITY = {"answered an unanswerable question": 0, "retrieval miss": 1,
            "generation error (gold retrieved, not cited)": 2, "retrieval miss (abstained)": 3,
            "abstained with gold retrieved": 4, "partly wrong citations": 5}


def _fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1f}" if abs(v) >= 10 else f"{v:.3f}"
    return str(v)


def _plt() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plt.rcParams["font.sans-serif"] = ["Noto Sans CJK SC", "WenQuanYi Zen Hei", "SimHei", "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    import logging

    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    return plt


def _save(plt: Any, fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=80)
    plt.close(fig)
    return name


def plots(out: Path, kind: str, summary: dict[str, Any], rows: Sequence[dict[str, Any]],
          config: dict[str, Any]) -> list[tuple[str, str]]:
    """(file, caption) of the plots written."""
    if not rows:
        return []
    import warnings

    warnings.filterwarnings("ignore", message="Glyph .* missing from")
    plt = _plt()
    made: list[tuple[str, str]] = []
    if kind == "answer":
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ans = [r["support"] for r in rows if not r["unanswerable"]]
        una = [r["support"] for r in rows if r["unanswerable"]]
        ax.hist([ans, una], bins=20, label=["answerable", "unanswerable"], stacked=False)
        th = config.get("support_threshold")
        if th is not None:
            ax.axvline(th, color="k", linestyle="--", label=f"abstain below {th}")
        ax.set_xlabel("support")
        ax.set_ylabel("items")
        ax.legend()
        made.append((_save(plt, fig, out, "support.png"), "Support scores of answerable and unanswerable items"))
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ranks = []
        for r in rows:
            if r["unanswerable"]:
                continue
            ids = [h["id"] for h in r["retrieved"]]
            ranks.append(next((i for i, x in enumerate(ids, 1) if x in set(r["gold"])), 11))
        labels = [str(i) for i in range(1, 11)] + ["miss"]
        ax.bar(labels, [ranks.count(i) for i in range(1, 12)])
        ax.set_xlabel("rank of the first gold record (top 10)")
        ax.set_ylabel("answerable items")
        made.append((_save(plt, fig, out, "gold_rank.png"), "Where the first gold record was retrieved"))
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.hist([r["latency_ms"] for r in rows], bins=20)
        ax.set_xlabel("answer latency (ms)")
        ax.set_ylabel("items")
        made.append((_save(plt, fig, out, "latency.png"), "Answer latency, retrieval included"))
    elif kind == "tag":
        fig, ax = plt.subplots(figsize=(6, 3.2))
        right = [r["suggested"][0]["confidence"] for r in rows if r["suggested"] and r["metrics"]["top1"]]
        wrong = [r["suggested"][0]["confidence"] for r in rows if r["suggested"] and not r["metrics"]["top1"]]
        ax.hist([right, wrong], bins=20, label=["top-1 right", "top-1 wrong"])
        ax.set_xlabel("confidence of the best suggestion")
        ax.legend()
        made.append((_save(plt, fig, out, "confidence.png"), "Confidence of the best tag, right and wrong"))
    else:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.bar(list(CASE_SECTIONS), [summary["metrics"].get(f"fill_{s}") or 0 for s in CASE_SECTIONS])
        ax.set_ylim(0, 1)
        ax.set_ylabel("share of drafts")
        made.append((_save(plt, fig, out, "fill_rate.png"), "Section fill rate of the drafts"))
    cats = summary.get("by_category") or {}
    if cats:
        keys = [k for k in next(iter(cats.values())) if k != "items"][:3]
        fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(cats)), 3.4))
        width = 0.8 / max(1, len(keys))
        names = list(cats)
        for j, k in enumerate(keys):
            ax.bar([i + j * width for i in range(len(names))], [cats[c].get(k) or 0 for c in names], width, label=k)
        ax.set_xticks([i + width * (len(keys) - 1) / 2 for i in range(len(names))])
        ax.set_xticklabels([f"{c}\n({cats[c]['items']})" for c in names], fontsize=8)
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8)
        made.append((_save(plt, fig, out, "by_category.png"), "Per category"))
    ragas_vals = {k: [v for r in rows if (v := (r.get("ragas") or {}).get(k)) is not None]
                  for k in (M.RAGAS_ANSWER if kind == "answer" else M.RAGAS_DRAFT)}
    ragas_vals = {k: v for k, v in ragas_vals.items() if v}
    if ragas_vals:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        ax.boxplot(list(ragas_vals.values()))
        ax.set_xticks(range(1, len(ragas_vals) + 1))
        ax.set_xticklabels([k.replace("non_llm_", "").replace("_with_reference", "") for k in ragas_vals],
                           fontsize=7, rotation=15)
        ax.set_ylim(-0.02, 1.02)
        made.append((_save(plt, fig, out, "ragas.png"), "Distributions of the ragas scores per item"))
    return made


def worst(rows: Sequence[dict[str, Any]], n: int = WORST) -> list[dict[str, Any]]:
    bad = [r for r in rows if r.get("diagnosis") in SEVERITY]
    return sorted(bad, key=lambda r: (SEVERITY[r["diagnosis"]], (r["metrics"].get("mrr@10") or 0), r["id"]))[:n]


def blocks(config: dict[str, Any], summary: dict[str, Any], rows: Sequence[dict[str, Any]],
           images: list[tuple[str, str]]) -> list[Block]:
    kind = summary["kind"]
    b: list[Block] = [("h1", f"Evaluation: {summary['dataset']} ({kind} set)")]
    prompts = config.get("prompts")
    prompts_s = ", ".join(f"{v}" for v in prompts.values()) if isinstance(prompts, dict) else str(prompts)
    lib = config.get("library") or {}
    b.append(("table", ["", ""], [
        ["engine", config.get("engine", "")], ["prompts", prompts_s],
        ["dataset", f"{config.get('dataset')} (sha256 {str(config.get('dataset_sha256'))[:12]}…, "
                    f"{summary['completed']}/{summary['items']} items)"],
        ["library", ", ".join(f"{k} {v}" for k, v in lib.items() if k != "source_sha256")],
        ["embedders", f"{config['settings'].get('embedder')} / {config['settings'].get('passage_embedder')}"],
        ["code", f"casepilot {config.get('casepilot_version')}, commit {str(config.get('git_commit'))[:10]}"
                 + (" (uncommitted changes)" if config.get("git_dirty") else "")],
        ["run", str(config.get("created_at", ""))],
    ]))
    if summary["errors"]:
        b.append(("p", f"**{len(summary['errors'])} item(s) failed** and are not scored (a rerun retries them): "
                       + "; ".join(summary["errors"][:5])))
    b.append(("h2", "Metrics"))
    docs = {m.name: m.doc for m in M.metrics_for(kind)}
    b.append(("table", ["metric", "value", "items", "gated", "what"],
              [[k, _fmt(v), str(summary["counted"].get(k, "")), "✓" if k in summary["gated"] else "",
                docs.get(k, "")] for k, v in summary["metrics"].items()
               if v is not None or not k.startswith("ragas.")]))
    skipped = [k for k, v in summary["metrics"].items() if v is None]
    if skipped:
        b.append(("p", "Not computed (no item counts for them): " + ", ".join(skipped) + "."))
    for note in summary.get("notes", []):
        b.append(("li", note))
    if summary.get("diagnosis"):
        b.append(("h2", "Where answers went wrong"))
        b.append(("p", "retrieval miss: no gold record among the records the engine read; generation error: a "
                       "gold record was read but another was cited; abstained with gold retrieved: support was "
                       "below the threshold although a gold record was there."))
        b.append(("table", ["diagnosis", "items"], [[k, str(v)] for k, v in summary["diagnosis"].items()]))
    if kind == "answer" and any(r["unanswerable"] for r in rows):
        th = config.get("support_threshold")
        b.append(("h2", "Abstention threshold sweep"))
        b.append(("p", f"Abstention precision and recall had the engine abstained below each support value "
                       f"(this run used {th}; set it with CASEPILOT_ABSTAIN_BELOW)."))
        b.append(("table", ["abstain below", "precision", "recall"],
                  [[f"{t:.2f}" + (" ←" if th is not None and abs(t - th) < 0.01 else ""), _fmt(p), _fmt(r)]
                   for t, p, r in M.abstention_sweep(rows)]))
    cats = summary.get("by_category") or {}
    if cats:
        b.append(("h2", "Per category"))
        keys = list(next(iter(cats.values())).keys())
        b.append(("table", ["category", *keys], [[c, *(_fmt(d.get(k)) for k in keys)] for c, d in cats.items()]))
    if images:
        b.append(("h2", "Plots"))
        for f, cap in images:
            b.append(("img", f, cap))
    if kind == "answer":
        w = worst(rows)
        b.append(("h2", f"Worst items ({len(w)})"))
        for r in w:
            gold = set(r["gold"])
            b.append(("h3", f"{r['id']} [{r.get('category', '')}] {r['diagnosis']}"))
            lines = [f"question: {r['question']}"]
            if r.get("retrieval_query"):
                lines.append(f"retrieved with: {r['retrieval_query']}")
            lines.append(f"gold: {', '.join(r['gold']) or '(none: unanswerable)'}   cited: "
                         f"{', '.join(r['cited']) or '-'}   abstained: {r['abstained']}   support: {r['support']}")
            lines.append("context the engine read (✓ gold):")
            for c in r["context"]:
                lines.append(f"  {'✓' if c['id'] in gold else ' '} {c['id']}  {c['score']:.3f}  {c.get('title', '')}"
                             f"  [{c.get('section', '')}] {c.get('snippet', '')[:80]}")
            missing = [g for g in r["gold"] if g not in {c["id"] for c in r["context"]}]
            if missing:
                ranks = {h["id"]: i for i, h in enumerate(r["retrieved"], 1)}
                lines.append("gold not read: " + ", ".join(
                    f"{g} (rank {ranks[g]})" if g in ranks else f"{g} (not in top 10)" for g in missing))
            ans = r["answer"].replace("\n", " ")
            lines.append(f"answer: {ans[:300]}{'…' if len(ans) > 300 else ''}")
            b.append(("pre", "\n".join(lines)))
    elif kind == "tag":
        wrong = [r for r in rows if not r["metrics"]["top5"]][:WORST]
        b.append(("h2", f"Items without a gold tag in the top 5 ({len(wrong)} shown)"))
        b.append(("table", ["id", "text", "gold", "suggested"],
                  [[r["id"], r["text"][:60], ", ".join(r["gold"]),
                    ", ".join(f"{s['tag']} ({s['confidence']:.2f})" for s in r["suggested"][:3])] for r in wrong]))
    else:
        skipped_rows = [r for r in rows if not r["drafted"]][:WORST]
        if skipped_rows:
            b.append(("h2", "Tickets not drafted"))
            b.append(("table", ["ticket", "reason"], [[r["ticket"], r["skipped"]] for r in skipped_rows]))
    return b


def _md_cell(s: str) -> str:
    return str(s).replace("|", "\\|").replace("\n", " ")


def to_markdown(bs: list[Block]) -> str:
    out: list[str] = []
    for i, blk in enumerate(bs):
        t = blk[0]
        if t != "li" and i and bs[i - 1][0] == "li":
            out.append("")
        if t in ("h1", "h2", "h3"):
            out += ["#" * int(t[1]) + " " + blk[1], ""]
        elif t == "p":
            out += [blk[1], ""]
        elif t == "li":
            out.append(f"* {blk[1]}")
        elif t == "table":
            head, rows = blk[1], blk[2]
            out.append("| " + " | ".join(_md_cell(h) for h in head) + " |")
            out.append("|" + "|".join("---" for _ in head) + "|")
            out += ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
            out.append("")
        elif t == "img":
            out += [f"![{blk[2]}]({blk[1]})", ""]
        elif t == "pre":
            out += ["```", blk[1], "```", ""]
    return "\n".join(out).replace("\n\n\n", "\n\n") + "\n"


CSS = ("body{font-family:system-ui,'Noto Sans CJK SC',sans-serif;max-width:1100px;margin:2em auto;padding:0 1em}"
       "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:2px 8px;font-size:14px}"
       "pre{background:#f6f6f6;padding:8px;white-space:pre-wrap;font-size:13px}img{max-width:100%}")


def to_html(bs: list[Block], out: Path) -> str:
    e = html.escape
    parts = ["<!doctype html><html lang=zh><meta charset=utf-8>", f"<style>{CSS}</style>"]
    in_list = False
    for blk in bs:
        t = blk[0]
        if t != "li" and in_list:
            parts.append("</ul>")
            in_list = False
        if t in ("h1", "h2", "h3"):
            parts.append(f"<{t}>{e(blk[1])}</{t}>")
        elif t == "p":
            parts.append(f"<p>{e(blk[1]).replace('**', '')}</p>")
        elif t == "li":
            if not in_list:
                parts.append("<ul>")
                in_list = True
            parts.append(f"<li>{e(blk[1])}</li>")
        elif t == "table":
            parts.append("<table><tr>" + "".join(f"<th>{e(str(h))}</th>" for h in blk[1]) + "</tr>")
            parts += ["<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in r) + "</tr>" for r in blk[2]]
            parts.append("</table>")
        elif t == "img":
            data = base64.b64encode((out / blk[1]).read_bytes()).decode()
            parts.append(f"<figure><img alt='{e(blk[2])}' src='data:image/png;base64,{data}'>"
                         f"<figcaption>{e(blk[2])}</figcaption></figure>")
        elif t == "pre":
            parts.append(f"<pre>{e(blk[1])}</pre>")
    if in_list:
        parts.append("</ul>")
    return "\n".join(parts) + "\n</html>\n"


def write_reports(out: Path, config: dict[str, Any], summary: dict[str, Any], rows: Sequence[dict[str, Any]]) -> None:
    images = plots(out, summary["kind"], summary, rows, config)
    bs = blocks(config, summary, rows, images)
    (out / "report.md").write_text(to_markdown(bs), encoding="utf-8")
    (out / "report.html").write_text(to_html(bs, out), encoding="utf-8")


def load_run(path: Path) -> tuple[dict[str, Any], dict[str, Any], list[dict[str, Any]]]:
    """(config, summary, rows) of a run folder."""
    from assistant.errors import InputError

    if not (path / "items.jsonl").is_file():
        raise InputError(f"{path}: not a run folder (no items.jsonl)")
    cfg = json.loads((path / "config.json").read_text(encoding="utf-8")) if (path / "config.json").exists() else {}
    summ = json.loads((path / "summary.json").read_text(encoding="utf-8")) if (path / "summary.json").exists() else {}
    rows = [json.loads(x) for x in (path / "items.jsonl").read_text(encoding="utf-8").splitlines() if x.strip()]
    return cfg, summ, rows
