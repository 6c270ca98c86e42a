"""Small logistic models shipped as JSON in ``assistant/models/``: each names the features it reads
and the embedders it was learned with (similarities are only comparable within one pair), and is
trained by a command under ``evals/`` that records itself in the file's ``meta``."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

ANY_EMBEDDER = "*"


@dataclass(frozen=True)
class LogisticModel:
    """``p = sigmoid(intercept + Σ coef·(x - mean)/scale)`` over ``features``; a missing feature reads 0."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float
    threshold: float = 0.5
    embedders: str = ANY_EMBEDDER  # the Library.embedder_key it was learned with, or any

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
    def from_dict(cls, d: Mapping[str, Any], known: Sequence[str]) -> LogisticModel:
        names = tuple(str(x) for x in d["features"])
        unknown = set(names) - set(known)
        if unknown:
            raise ValueError(f"model uses unknown features {sorted(unknown)}; known: {tuple(known)}")
        cols = [tuple(float(x) for x in d[k]) for k in ("mean", "scale", "coef")]
        if any(len(c) != len(names) for c in cols) or any(s <= 0 for s in cols[1]):
            raise ValueError("model: mean, scale and coef must match the features; scales positive")
        return cls(names, cols[0], cols[1], cols[2], float(d["intercept"]), float(d.get("threshold", 0.5)),
                   str(d.get("embedders") or ANY_EMBEDDER))


def models_json(models: Sequence[LogisticModel], meta: Mapping[str, Any]) -> str:
    return json.dumps({"models": [m.to_dict() for m in models], "meta": dict(meta)}, ensure_ascii=False,
                      indent=2) + "\n"


def read_models(name: str, known: Sequence[str],
                path: Path | None = None) -> tuple[list[LogisticModel], dict[str, Any]]:
    """The models of ``models/NAME`` in the package (or of ``path``) and how they were made."""
    text = path.read_text(encoding="utf-8") if path else \
        resources.files("assistant").joinpath("models", name).read_text(encoding="utf-8")
    d = json.loads(text)
    return [LogisticModel.from_dict(m, known) for m in d.get("models") or []], dict(d.get("meta") or {})


def for_embedders(models: Sequence[LogisticModel], key: str) -> LogisticModel | None:
    """The model learned with the embedders ``key`` names (``Library.embedder_key``), else one for
    any embedder, else None."""
    return next((m for m in models if m.embedders == key), None) or \
        next((m for m in models if m.embedders == ANY_EMBEDDER), None)
