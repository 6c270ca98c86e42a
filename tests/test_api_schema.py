"""A schema-driven fuzz run: schemathesis generates requests from the app's own OpenAPI document
(valid and invalid ones, with an admin key, so every route is reached past authentication) and
checks that none gives a 500 and that every response matches the document."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from api.app import create_app
from api.auth import create_key
from api.config import ApiSettings
from assistant.library import Library
from assistant.settings import Settings
from ingestion.pipeline import Ingestor
from tests.conftest import case, write_jsonl

_home = Path(tempfile.mkdtemp(prefix="cp-fuzz-"))
atexit.register(shutil.rmtree, _home, True)
_settings = Settings(home=_home / "home", embedder="hash", passage_embedder="hash", abstain_below=0.0)
app = create_app(_settings, ApiSettings(rate_per_minute=0))
_store = app.state.casepilot.store
KEY = create_key(app.state.casepilot.http, "fuzz", "admin")["key"]
Ingestor(Library(_settings, "fuzz", store=_store)).ingest_paths([write_jsonl(_home / "c.jsonl", [
    case("C-1"), case("C-2", "账单重复扣费", status="in_review"),
    {"kind": "ticket", "id": "T-1", "subject": "打印机连不上WiFi",
     "messages": [{"id": "m1", "role": "customer", "text": "打印机连不上网"}]}])])

schemathesis.serializer.alias("application/x-ndjson", "text/plain")  # uploads are text
schema = schemathesis.openapi.from_asgi("/openapi.json", app)
MAX_EXAMPLES = 12


@pytest.fixture(autouse=True)
def _no_network() -> None:
    """Overrides the suite's network guard: the ASGI transport needs no socket at all."""


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
def test_no_server_errors_and_responses_match_the_document(case: schemathesis.Case) -> None:
    # an upload is text: a "wrong type" for it is only ever bytes on the wire, which it takes (and rejects per line)
    excluded = [schemathesis.checks.negative_data_rejection] if case.operation.path == "/v1/imports" else []
    if case.operation.path == "/v1/chat/completions":  # "the last message is the user's, with text" is not JSON Schema
        excluded.append(schemathesis.checks.positive_data_acceptance)
    if case.operation.path == "/v1/tickets":  # any object is schema-valid; only a ticket of one of three shapes is taken
        excluded.append(schemathesis.checks.positive_data_acceptance)
    # a negative case whose only fault is in the headers (no Authorization) is made valid by the key
    # sent below, so the API rightly accepts it
    meta = case.meta
    if meta is not None and meta.generation.mode.is_negative and any(
            loc.name == "HEADER" and info.mode.is_negative for loc, info in meta.components.items()):
        excluded.append(schemathesis.checks.negative_data_rejection)
    case.call_and_validate(headers={"Authorization": f"Bearer {KEY}"}, excluded_checks=excluded)
