"""The OpenAI-compatible embedder, through the real ``openai`` client, against a stub
``/v1/embeddings`` server on loopback."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from assistant.embeddings import OpenAIEmbedder, make_embedder
from assistant.errors import BackendError, ConfigError
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl


class Stub(BaseHTTPRequestHandler):
    mode = "ok"
    calls: ClassVar[list[dict]] = []

    def log_message(self, *args: object) -> None:
        pass

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Stub.calls.append({"path": self.path, "auth": self.headers.get("Authorization"), **body})
        if Stub.mode == "error":
            self._send(500, {"error": {"message": "model overloaded", "type": "server_error"}})
            return
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        if Stub.mode == "short":
            texts = texts[:-1]
        data = []
        for i, t in enumerate(texts):
            seed = int.from_bytes(hashlib.sha256(t.encode()).digest()[:4], "little")
            vec = np.random.default_rng(seed).normal(size=8).tolist()
            data.append({"object": "embedding", "index": i, "embedding": vec})
        self._send(200, {"object": "list", "data": data, "model": body["model"],
                         "usage": {"prompt_tokens": 1, "total_tokens": 1}})

    def _send(self, status: int, obj: dict) -> None:
        raw = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


@pytest.fixture
def server() -> Iterator[str]:
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    Stub.mode, Stub.calls = "ok", []
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_embeds_through_the_real_client(server: str) -> None:
    emb = OpenAIEmbedder("emb-small", base_url=server, api_key="sk-test")
    m = emb.embed_passages(["打印机", "账单"])
    assert m.shape == (2, 8) and np.allclose(np.linalg.norm(m, axis=1), 1.0)
    q = emb.embed_query("打印机")
    assert np.allclose(q, m[0], atol=1e-6)
    assert emb.model_id == "openai:emb-small" and emb.dim == 8
    assert Stub.calls[0]["path"] == "/v1/embeddings" and Stub.calls[0]["auth"] == "Bearer sk-test"


def test_endpoint_errors_are_backend_errors(server: str) -> None:
    emb = OpenAIEmbedder("emb-small", base_url=server, api_key="k", max_retries=0)
    Stub.mode = "error"
    with pytest.raises(BackendError, match="500") as e:
        emb.embed_passages(["x"])
    assert e.value.status == 500
    Stub.mode = "short"
    with pytest.raises(BackendError, match="asked for 2 vectors, got 1"):
        emb.embed_passages(["x", "y"])


def test_a_library_on_the_endpoint(tmp_path: Path, server: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    settings = Settings(home=tmp_path / "h", embedder="openai:emb-small", passage_embedder="openai:emb-small")
    lib = Library(settings)
    Ingestor(lib).ingest_paths([write_jsonl(tmp_path / "a.jsonl", [case("C-1"), case("C-2", "账单重复扣费")])])
    assert lib.vectors.model_id == "openai:emb-small"
    assert {h.id for h in lib.search("账单重复扣费", k=2)} == {"C-1", "C-2"}
    with pytest.raises(ConfigError, match="needs a model name"):
        make_embedder("openai")


def test_an_api_worker_does_not_call_a_remote_embedder_to_warm_up(tmp_path: Path, server: str,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An endpoint that is down would hold the worker's start for its timeouts and retries."""
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.config import ApiSettings

    monkeypatch.setenv("OPENAI_BASE_URL", server)
    monkeypatch.setenv("OPENAI_API_KEY", "k")
    settings = Settings(home=tmp_path / "h", embedder="openai:emb-small", passage_embedder="openai:emb-small")
    with TestClient(create_app(settings, ApiSettings(rate_per_minute=0))) as c:
        assert "casepilot_open_tenants 1.0" in c.get("/metrics").text  # warmed up, without a call
    assert Stub.calls == []
