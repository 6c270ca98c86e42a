"""ragas metrics, computed through ragas' own ``EvaluationDataset`` / ``SingleTurnSample`` and
``ragas.evaluate``, offline.

``RAGAS_DO_NOT_TRACK=true`` is set in the process before ragas is imported (ragas otherwise sends
usage analytics). Only the non-LLM metrics DESIGN.md lists run by default:

* ``non_llm_context_precision_with_reference`` and ``non_llm_context_recall``: the retrieved
  records' texts against the gold records' texts (Levenshtein similarity, threshold 0.5);
* ``non_llm_string_similarity`` (normalised Levenshtein, character level, so Chinese works),
  ``chrf_score`` (sacrebleu chrF, character n-grams) and ``bleu_score`` against a reference answer,
  where the item has one. ragas 0.4.3's ``BleuScore`` passes its ``kwargs`` to
  ``sacrebleu.corpus_bleu``, so it runs with ``tokenize="zh"`` (each CJK character a token); it also
  splits both texts on ``". "`` and needs the same number of pieces on both sides, so ``". "``
  (numbered steps: ``1. 登录``) is written ``"."`` in the texts BLEU sees.

ROUGE is not computed: ragas' ``RougeScore`` tokenises with ``rouge_score``, whose tokenizer drops
every character outside ``[a-z0-9]``, so a Chinese answer scores 0 against any Chinese reference.

``faithfulness`` and ``answer_relevancy`` need a judge model; they run only when one is configured
(``CASEPILOT_JUDGE=openai:MODEL`` or ``--judge``, with ``OPENAI_BASE_URL`` / ``OPENAI_API_KEY``).
The judge's embeddings (answer relevancy) are casepilot's own question-space embedder, so nothing is
downloaded.
"""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

CONTEXT_METRICS = ("non_llm_context_precision_with_reference", "non_llm_context_recall")
ANSWER_METRICS = ("non_llm_string_similarity", "chrf_score", "bleu_score")
JUDGE_METRICS = ("faithfulness", "answer_relevancy")
NOT_REPORTED = {"rouge_score": "ragas' RougeScore drops every CJK character (rouge_score tokenises on [a-z0-9]); "
                               "not reported for Chinese"}


def _import_ragas() -> Any:
    os.environ["RAGAS_DO_NOT_TRACK"] = "true"
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"ragas.*")
    warnings.filterwarnings("ignore", message=r".*ragas\.metrics.*deprecated.*")
    warnings.filterwarnings("ignore", message=r"Langchain(LLM|Embeddings)Wrapper is deprecated")
    import ragas

    return ragas


@dataclass
class Sample:
    """One item's texts; any of them may be missing, and a metric runs only where its inputs exist."""

    user_input: str
    response: str = ""
    retrieved_contexts: list[str] = field(default_factory=list)
    reference_contexts: list[str] = field(default_factory=list)
    reference: str = ""


def bleu_text(text: str) -> str:
    return text.replace(". ", ".")


@dataclass
class Judge:
    """An OpenAI-compatible chat model as ragas' judge, and casepilot's embedder for its embeddings."""

    model: str
    embedder: Any  # assistant.embeddings.Embedder
    base_url: str | None = None
    api_key: str | None = None
    timeout: float = 60.0

    @classmethod
    def from_spec(cls, spec: str, embedder: Any, timeout: float = 60.0) -> Judge:
        from assistant.engines import model_name
        from assistant.errors import ConfigError

        name = model_name(spec, "judge")
        if name is None:
            raise ConfigError(f"judge {spec!r}: use openai:MODEL (any OpenAI-compatible chat endpoint)")
        return cls(name, embedder, os.environ.get("OPENAI_BASE_URL"), os.environ.get("OPENAI_API_KEY"), timeout)

    def ragas_llm(self) -> Any:
        from langchain_openai import ChatOpenAI
        from ragas.llms import LangchainLLMWrapper

        chat = ChatOpenAI(model=self.model, base_url=self.base_url, api_key=self.api_key or "none",  # type: ignore[arg-type]
                          timeout=self.timeout, max_retries=1, temperature=0)
        return LangchainLLMWrapper(chat)

    def ragas_embeddings(self) -> Any:
        from langchain_core.embeddings import Embeddings
        from ragas.embeddings import LangchainEmbeddingsWrapper

        emb = self.embedder

        class _Casepilot(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [list(map(float, v)) for v in emb.embed_questions(list(texts))]

            def embed_query(self, text: str) -> list[float]:
                return list(map(float, emb.embed_query(text)))

        return LangchainEmbeddingsWrapper(_Casepilot())


def _clean(v: Any) -> float | None:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(f) else round(f, 4)


def _evaluate(samples: list[Any], metrics: list[Any], **kw: Any) -> list[dict[str, float | None]]:
    ragas = _import_ragas()
    from ragas import EvaluationDataset

    result = ragas.evaluate(EvaluationDataset(samples=samples), metrics=metrics, show_progress=False,
                            raise_exceptions=False, **kw)
    df = result.to_pandas()
    names = [m.name for m in metrics]
    return [{n: _clean(rec.get(n)) for n in names} for rec in df.to_dict("records")]


def score(samples: Sequence[Sample], *, judge: Judge | None = None) -> list[dict[str, float | None]]:
    """ragas scores per sample (``{metric: value}``, only the metrics whose inputs the sample has)."""
    _import_ragas()
    from ragas import SingleTurnSample
    from ragas.metrics import (
        BleuScore,
        ChrfScore,
        NonLLMContextPrecisionWithReference,
        NonLLMContextRecall,
        NonLLMStringSimilarity,
    )

    out: list[dict[str, float | None]] = [{} for _ in samples]
    ctx = [i for i, s in enumerate(samples) if s.retrieved_contexts and s.reference_contexts]
    if ctx:
        rows = _evaluate([SingleTurnSample(user_input=samples[i].user_input,
                                           retrieved_contexts=samples[i].retrieved_contexts,
                                           reference_contexts=samples[i].reference_contexts) for i in ctx],
                         [NonLLMContextPrecisionWithReference(), NonLLMContextRecall()])
        for i, r in zip(ctx, rows, strict=True):
            out[i].update(r)
    ans = [i for i, s in enumerate(samples) if s.reference.strip() and s.response.strip()]
    if ans:
        rows = _evaluate([SingleTurnSample(user_input=samples[i].user_input, response=samples[i].response,
                                           reference=samples[i].reference) for i in ans],
                         [NonLLMStringSimilarity(), ChrfScore()])
        bleu = _evaluate([SingleTurnSample(user_input=samples[i].user_input, response=bleu_text(samples[i].response),
                                           reference=bleu_text(samples[i].reference)) for i in ans],
                         [BleuScore(kwargs={"tokenize": "zh"})])
        for i, r, b in zip(ans, rows, bleu, strict=True):
            out[i].update(r)
            out[i].update(b)
    if judge is not None:
        from ragas.metrics import Faithfulness, ResponseRelevancy

        jud = [i for i, s in enumerate(samples) if s.response.strip() and s.retrieved_contexts]
        if jud:
            llm, emb = judge.ragas_llm(), judge.ragas_embeddings()
            rows = _evaluate([SingleTurnSample(user_input=samples[i].user_input, response=samples[i].response,
                                               retrieved_contexts=samples[i].retrieved_contexts) for i in jud],
                             [Faithfulness(llm=llm), ResponseRelevancy(llm=llm, embeddings=emb, strictness=1)],
                             llm=llm, embeddings=emb)
            for i, r in zip(jud, rows, strict=True):
                out[i].update(r)
    return out
