"""What the trainers of the shipped logistic models share (``evals.train_abstention``,
``evals.train_ranker``): the stable split, sampling, weighting, the fit, and writing the model file
so that models learned with other embedders stay in it."""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from assistant.logistic import LogisticModel, models_json

MODELS = Path(__file__).resolve().parent.parent / "assistant" / "models"


def split_of(gold: str) -> str:
    h = zlib.crc32(gold.encode("utf-8")) % 5
    return "report" if h == 0 else "choose" if h == 1 else "train"


def sample(items: Sequence[Any], n: int) -> list[Any]:
    """Every k-th item, so a sample spreads over the whole set."""
    if not n or len(items) <= n:
        return list(items)
    step = len(items) / n
    return [items[int(i * step)] for i in range(n)]


def set_weights(rows: Sequence[dict[str, Any]]) -> np.ndarray:
    """Each set weighs the same in total, whatever its number of questions."""
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["set"]] = counts.get(r["set"], 0) + 1
    return np.array([len(rows) / (len(counts) * counts[r["set"]]) for r in rows])


def fit_logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float = 1.0,
                 iterations: int = 50) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Weighted L2-regularised logistic regression on standardised features, by Newton's method.
    Returns (mean, scale, coef, intercept)."""
    mean, scale = x.mean(axis=0), x.std(axis=0)
    scale[scale < 1e-9] = 1.0
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    beta = np.zeros(z.shape[1])
    reg = np.full(z.shape[1], l2)
    reg[0] = 0.0  # the intercept is not shrunk
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + reg * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(reg)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return mean, scale, beta[1:], float(beta[0])


def default_embedder_key() -> str:
    """``Library.embedder_key`` of the default settings, which the dev libraries are built with."""
    from assistant.embeddings import make_embedder
    from assistant.settings import Settings

    s = Settings()
    passage = make_embedder(s.passage_embedder).model_id if s.passage_embedder else ""
    return f"{make_embedder(s.embedder).model_id}+{passage}"


def load_or_collect(features: Path | None, dev: Path, out: Path, name: str,
                    collect: Callable[[], list[dict[str, Any]]]) -> list[dict[str, Any]] | None:
    """The rows of a saved ``features`` file, or ``collect()``'s from the dev data, saved as
    ``out/name`` for the next ``--features``; None (said why) when the dev data is absent."""
    import sys

    if features:
        return [json.loads(x) for x in features.read_text(encoding="utf-8").splitlines() if x]
    if not dev.is_dir():
        print(f"skipped: {dev} not found", file=sys.stderr)
        return None
    rows = collect()
    out.mkdir(parents=True, exist_ok=True)
    with (out / name).open("w", encoding="utf-8") as f:
        f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
    return rows


def to_model(fit: tuple[np.ndarray, np.ndarray, np.ndarray, float], features: Sequence[str], threshold: float,
             embedders: str) -> LogisticModel:
    """``fit_logistic``'s result as a model, rounded to what the JSON file keeps."""
    mean, scale, coef, intercept = fit
    r6 = lambda v: tuple(round(float(x), 6) for x in v)  # noqa: E731
    return LogisticModel(tuple(features), r6(mean), r6(scale), r6(coef), round(float(intercept), 6),
                         round(threshold, 3), embedders)


def write_models(name: str, models: Sequence[LogisticModel], meta: dict[str, Any]) -> Path:
    """Store ``models`` in ``assistant/models/NAME``, keeping the file's models for other embedders
    (and their ``meta`` under ``meta["other embedders"]``)."""
    target = MODELS / name
    kept: list[LogisticModel] = []
    if target.exists():
        old = json.loads(target.read_text(encoding="utf-8"))
        keys = {m.embedders for m in models}
        for d in old.get("models") or []:
            if d.get("embedders") not in keys:
                kept.append(LogisticModel.from_dict(d, d["features"]))
        if kept:
            meta = {**meta, "other embedders": old.get("meta", {})}
    target.write_text(models_json([*models, *kept], meta), encoding="utf-8")
    return target
