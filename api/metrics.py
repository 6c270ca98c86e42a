"""Prometheus metrics, in a registry of their own (one per app, so tests can build several apps).

Counted per worker process: with several uvicorn workers each serves its own numbers."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("casepilot_http_requests_total", "HTTP requests by route template, method and status",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("casepilot_http_request_seconds", "HTTP request latency by route template",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.retrieval = Histogram("casepilot_retrieval_seconds", "Library.search latency (hybrid retrieval)",
                                   buckets=LATENCY_BUCKETS, registry=r)
        self.answers = Counter("casepilot_answers_total", "answers by engine and outcome",
                               ["engine", "outcome"], registry=r)
        self.answer_seconds = Histogram("casepilot_answer_seconds", "time to a verified answer, by engine",
                                        ["engine"], buckets=LATENCY_BUCKETS, registry=r)
        self.model_calls = Counter("casepilot_model_calls_total",
                                   "answers composed by a model endpoint (openai:MODEL), by outcome",
                                   ["engine", "outcome"], registry=r)
        self.imports = Counter("casepilot_import_jobs_total", "import jobs by final status", ["status"], registry=r)
        self.tenants = Gauge("casepilot_open_tenants", "tenants with an open library in this process", registry=r)

    def answered(self, engine: str, abstained: bool, seconds: float, fallback: bool) -> None:
        self.answers.labels(engine, "abstained" if abstained else "answered").inc()
        self.answer_seconds.labels(engine).observe(seconds)
        if engine.startswith("openai:") or fallback:
            self.model_calls.labels(engine, "fallback" if fallback else "ok").inc()

    def model_failed(self, engine: str) -> None:
        if engine.startswith("openai:"):
            self.model_calls.labels(engine, "error").inc()
