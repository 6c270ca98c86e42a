"""How often the promise check (``assistant.promises``) fires on real agents' replies, by category, and a
sample of what it flags, to read for precision (docs/promises.md).

The replies have no cited source, so every commitment the policy finds counts: this measures what the
policy takes for a commitment, which is what decides a flag in an answer or a draft once the source
does not say the same.

    python -m evals.promise_eval [--dev-data ../shared/data/dev] [--sample 50] [--seed 25]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from pathlib import Path

from assistant.promises import Policy, default_policy, load_policy
from assistant.text import sentences
from evals.devdata import DEFAULT_DEV
from evals.draft_eval import jddc_tickets, support_tickets


def agent_sentences(dev: Path) -> dict[str, list[str]]:
    """The agents' reply sentences of each set: JDDC (one reply may hold several messages, joined by
    !@@@!) and the English and German support tickets' answers."""
    sets = {"JDDC (zh)": jddc_tickets(dev), "support tickets (en)": support_tickets(dev, "en"),
            "support tickets (de)": support_tickets(dev, "de")}
    out: dict[str, list[str]] = {}
    for name, tickets in sets.items():
        out[name] = [s for t in tickets for m in t["messages"] if m["role"] == "agent"
                     for part in m["text"].split("!@@@!") for line in part.splitlines()
                     for s in sentences(line.strip()) if s and s.lower() != "nan"]
    return out


def report(policy: Policy, by_set: dict[str, list[str]]) -> tuple[dict[str, Counter[str]], list[tuple[str, str, str]]]:
    """Per set, the sentences and the flagged sentences of each category; and every (set, category, sentence)."""
    counts: dict[str, Counter[str]] = {}
    flagged: list[tuple[str, str, str]] = []
    for name, sents in by_set.items():
        c: Counter[str] = Counter(sentences=len(sents))
        for s in sents:
            claims = policy.claims(s)
            c["flagged"] += bool(claims)
            for cl in claims:
                c[cl.category] += 1
                flagged.append((name, cl.category, s))
        counts[name] = c
    return counts, flagged


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m evals.promise_eval", description=__doc__.split("\n\n")[0])
    ap.add_argument("--dev-data", dest="dev", type=Path, default=DEFAULT_DEV, help="the development data folder")
    ap.add_argument("--policy-home", type=Path, help="a home whose promise_policy.yaml to use (default: packaged)")
    ap.add_argument("--sample", type=int, default=50, help="flagged sentences to print for reading (default 50)")
    ap.add_argument("--seed", type=int, default=25)
    args = ap.parse_args(argv)
    if not (args.dev / "jddc").exists() or not (args.dev / "support_tickets").exists():
        print(f"no development data at {args.dev}", file=sys.stderr)
        return 1
    policy = load_policy(args.policy_home) if args.policy_home else default_policy()
    counts, flagged = report(policy, agent_sentences(args.dev))
    cats = [c.name for c in policy.categories]
    print("| set | sentences | flagged | " + " | ".join(cats) + " |")
    print("|---|---:|---:|" + "---:|" * len(cats))
    for name, c in counts.items():
        print(f"| {name} | {c['sentences']} | {c['flagged']} ({c['flagged'] / max(c['sentences'], 1):.1%}) | "
              + " | ".join(str(c[k]) for k in cats) + " |")
    sample = random.Random(args.seed).sample(flagged, min(args.sample, len(flagged)))
    print(f"\nsample of {len(sample)} flags (seed {args.seed}):")
    for i, (name, cat, s) in enumerate(sample, 1):
        print(f"{i:>3}. [{cat}] ({name}) {s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
