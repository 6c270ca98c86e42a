"""A fake of the four chat platforms' APIs on loopback, recording every request it receives, for
testing the bots' replies over real HTTP (the shape of ``tests/stub_openai.py``).

    Slack     POST /api/chat.postMessage, /api/chat.update            {"ok": true}
    Feishu    POST /open-apis/auth/v3/tenant_access_token/internal    {"code": 0, "tenant_access_token"}
              POST /open-apis/im/v1/messages/{id}/reply               {"code": 0}
    WeCom     GET  /cgi-bin/gettoken                                  {"errcode": 0, "access_token"}
              POST /cgi-bin/message/send                              {"errcode": 0}
    DingTalk  POST /robot/sendBySession (a sessionWebhook)            {"errcode": 0}

``FakePlatform.script`` holds HTTP statuses for the next requests (each taken once, whatever the
path; an error body goes with them); an empty script answers normally.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

FEISHU_TOKEN = "t-fake-feishu-tenant-token-0001"
WECOM_TOKEN = "fake-wecom-access-token-0001"


class FakePlatform(BaseHTTPRequestHandler):
    script: ClassVar[list[int]] = []
    requests: ClassVar[list[dict[str, Any]]] = []
    lock: ClassVar[threading.Lock] = threading.Lock()

    def log_message(self, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        url = urlsplit(self.path)
        try:
            body: Any = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        with FakePlatform.lock:
            FakePlatform.requests.append({"method": self.command, "path": url.path,
                                          "query": {k: v[0] for k, v in parse_qs(url.query).items()},
                                          "headers": {k.lower(): v for k, v in self.headers.items()}, "json": body})
            status = FakePlatform.script.pop(0) if FakePlatform.script else 200
        if status != 200:
            self._json(status, {"error": "scripted failure"})
            return
        path = url.path
        if path in ("/api/chat.postMessage", "/api/chat.update"):
            self._json(200, {"ok": True, "ts": "1700000000.000200"})
        elif path == "/open-apis/auth/v3/tenant_access_token/internal":
            self._json(200, {"code": 0, "msg": "ok", "tenant_access_token": FEISHU_TOKEN, "expire": 7200})
        elif path.startswith("/open-apis/im/v1/messages/") and path.endswith("/reply"):
            self._json(200, {"code": 0, "msg": "success", "data": {"message_id": "om_reply"}})
        elif path == "/cgi-bin/gettoken":
            self._json(200, {"errcode": 0, "errmsg": "ok", "access_token": WECOM_TOKEN, "expires_in": 7200})
        elif path in ("/cgi-bin/message/send", "/robot/sendBySession"):
            self._json(200, {"errcode": 0, "errmsg": "ok"})
        else:
            self._json(404, {"error": f"no such fake API {path}"})

    def _json(self, status: int, obj: dict[str, Any]) -> None:
        raw = json.dumps(obj, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


def received(path_part: str = "") -> list[dict[str, Any]]:
    """The requests received so far whose path contains ``path_part``."""
    with FakePlatform.lock:
        return [r for r in FakePlatform.requests if path_part in r["path"]]


def reset(script: list[int] | None = None) -> None:
    with FakePlatform.lock:
        FakePlatform.requests = []
        FakePlatform.script = list(script or [])


@contextmanager
def fake_platform() -> Iterator[str]:
    """A fresh fake; yields its base URL (``http://127.0.0.1:PORT``)."""
    reset()
    srv = ThreadingHTTPServer(("127.0.0.1", 0), FakePlatform)
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}"
    finally:
        srv.shutdown()
        srv.server_close()
