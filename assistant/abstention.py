"""Whether the library answers a question: a calibrated probability from retrieval evidence.

Logistic models (``logistic.LogisticModel``) over the features ``Assistant.support_features``
computes, trained on real answerable and unanswerable questions (``python -m evals.train_abstention``,
which writes ``models/abstention.json`` with the thresholds it chose). Similarities are only
comparable within one pair of embedders, so the file holds a model for the default embedders and one
over the lexical features alone, used with any other embedders. The assistant abstains when the
probability is below the threshold (``CASEPILOT_ABSTAIN_BELOW`` overrides it).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .logistic import ANY_EMBEDDER, LogisticModel, for_embedders, read_models

__all__ = ["ANY_EMBEDDER", "FEATURES", "FILE", "LEXICAL", "load_models", "model_for"]

FEATURES = ("similarity", "passage", "coverage", "unseen")
LEXICAL = ("coverage", "unseen")  # what does not depend on the embedders
FILE = "abstention.json"  # in assistant/models/


def load_models(path: Path | None = None) -> tuple[list[LogisticModel], dict[str, Any]]:
    """The models in the package's file (or ``path``) and how they were made."""
    try:
        models, meta = read_models(FILE, FEATURES, path)
    except FileNotFoundError as e:
        raise ConfigError(f"the abstention model is missing ({e.filename}); rebuild it with: make train") from None
    if not any(m.embedders == ANY_EMBEDDER for m in models):
        raise ValueError("the abstention models must include one for any embedder (lexical features only)")
    if any(m.embedders == ANY_EMBEDDER and not set(m.features) <= set(LEXICAL) for m in models):
        raise ValueError(f"an abstention model for any embedder may use only {LEXICAL}")
    return models, meta


def model_for(embedder_key: str, path: Path | None = None) -> LogisticModel:
    """The model learned with these embedders (``Library.embedder_key``), else the lexical one."""
    models = _shipped() if path is None else tuple(load_models(path)[0])
    found = for_embedders(models, embedder_key)
    assert found is not None  # load_models insists on a model for any embedder
    return found


@lru_cache(maxsize=1)
def _shipped() -> tuple[LogisticModel, ...]:
    return tuple(load_models()[0])
