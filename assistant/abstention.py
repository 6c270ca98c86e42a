"""Whether the library answers a question: a calibrated probability from retrieval evidence.

Logistic models over the features ``Assistant.support_features`` computes, trained on real
answerable and unanswerable questions (``python -m evals.train_abstention``, which writes
``models/abstention.json`` with the thresholds it chose). Similarities are only comparable within
one pair of embedders, so the file holds a model for the default embedders and one over the lexical
features alone, used with any other embedders. The assistant abstains when the probability is below
the threshold (``CASEPILOT_ABSTAIN_BELOW`` overrides it).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

FEATURES = ("similarity", "passage", "coverage", "unseen")
LEXICAL = ("coverage", "unseen")  # what does not depend on the embedders
ANY_EMBEDDER = "*"


@dataclass(frozen=True)
class AbstentionModel:
    """``p = sigmoid(intercept + Σ coef·(x - mean)/scale)`` over ``features``."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float
    embedders: str = ANY_EMBEDDER  # "question+passage" embedder names it was learned with, or any

    def logit(self, f: Mapping[str, float]) -> float:
        return self.intercept + sum(c * (float(f.get(n, 0.0)) - m) / s for n, m, s, c in
                                    zip(self.features, self.mean, self.scale, self.coef, strict=True))

    def probability(self, f: Mapping[str, float]) -> float:
        z = self.logit(f)
        return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))

    @property
    def label(self) -> str:
        """Names these weights in run records: ``logistic:`` and a hash of the numbers."""
        numbers = json.dumps([self.embedders, self.features, self.mean, self.scale, self.coef, self.intercept])
        return "logistic:" + hashlib.sha256(numbers.encode()).hexdigest()[:10]

    def to_dict(self) -> dict[str, Any]:
        return {"embedders": self.embedders, "features": list(self.features), "mean": list(self.mean),
                "scale": list(self.scale), "coef": list(self.coef), "intercept": self.intercept,
                "threshold": self.threshold}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AbstentionModel:
        names = tuple(str(x) for x in d["features"])
        unknown = set(names) - set(FEATURES)
        if unknown:
            raise ValueError(f"abstention model uses unknown features {sorted(unknown)}; known: {FEATURES}")
        cols = [tuple(float(x) for x in d[k]) for k in ("mean", "scale", "coef")]
        if any(len(c) != len(names) for c in cols) or any(s <= 0 for s in cols[1]):
            raise ValueError("abstention model: mean, scale and coef must match the features; scales positive")
        embedders = str(d.get("embedders") or ANY_EMBEDDER)
        if embedders == ANY_EMBEDDER and not set(names) <= set(LEXICAL):
            raise ValueError(f"an abstention model for any embedder may use only {LEXICAL}")
        return cls(names, cols[0], cols[1], cols[2], float(d["intercept"]), float(d["threshold"]), embedders)


def models_json(models: Sequence[AbstentionModel], meta: Mapping[str, Any]) -> str:
    return json.dumps({"models": [m.to_dict() for m in models], "meta": dict(meta)}, ensure_ascii=False,
                      indent=2) + "\n"


def load_models(path: Path | None = None) -> tuple[list[AbstentionModel], dict[str, Any]]:
    """The models in the package's file (or ``path``) and how they were made."""
    text = path.read_text(encoding="utf-8") if path else resources.files("assistant").joinpath(SHIPPED).read_text(
        encoding="utf-8")
    d = json.loads(text)
    models = [AbstentionModel.from_dict(m) for m in d.get("models") or []]
    if not any(m.embedders == ANY_EMBEDDER for m in models):
        raise ValueError("the abstention models must include one for any embedder (lexical features only)")
    return models, dict(d.get("meta") or {})


def model_for(question_embedder: str, passage_embedder: str, path: Path | None = None) -> AbstentionModel:
    """The model learned with these embedders, else the lexical one."""
    models = _shipped() if path is None else load_models(path)[0]
    want = f"{question_embedder}+{passage_embedder}"
    return next((m for m in models if m.embedders == want), next(m for m in models if m.embedders == ANY_EMBEDDER))


SHIPPED = "models/abstention.json"


@lru_cache(maxsize=1)
def _shipped() -> tuple[AbstentionModel, ...]:
    return tuple(load_models()[0])
