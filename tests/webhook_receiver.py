"""A real HTTP receiver on loopback for the webhook tests, with a behaviour per request.

Each request is verified with the ``standardwebhooks`` library (the one a
sending platform would use), recorded, and answered as ``plan`` says:
``ok`` (204), a status code, ``slow`` (answer after a pause), or ``hang``
(say nothing for longer than the sender waits). ``stop()`` closes the
listening socket, so the endpoint is really down; ``start()`` brings it
back on the same port.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks import Webhook


@dataclass(frozen=True, slots=True)
class Received:
    webhook_id: str
    body: dict[str, Any]
    status: int  # what the receiver answered (0: it hung up without answering)
    verified: bool

    @property
    def seq(self) -> int:
        return int(self.body["data"]["seq"])


#: (request number from 0, webhook-id, change seq) -> ("ok",) | ("status", 500) | ("slow", seconds) | ("hang", seconds)
Plan = Callable[[int, str, int], tuple[Any, ...]]


def always_ok(_n: int, _id: str, _seq: int) -> tuple[Any, ...]:
    return ("ok",)


@dataclass
class Receiver:
    secret: str
    plan: Plan = always_ok
    port: int = 0
    received: list[Received] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _arrived: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/bounceledger"

    def start(self) -> Receiver:
        receiver = self
        verifier = Webhook(self.secret)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                try:
                    verifier.verify(raw, headers)
                    verified = True
                except Exception:  # noqa: BLE001  # recorded, and the tests fail on it
                    verified = False
                body = json.loads(raw)
                with receiver._lock:
                    number = receiver._arrived
                    receiver._arrived += 1
                    action = receiver.plan(number, headers.get("webhook-id", ""), int(body["data"]["seq"]))
                status = 204 if action[0] in ("ok", "slow") else int(action[1]) if action[0] == "status" else 0
                if action[0] in ("slow", "hang"):
                    time.sleep(float(action[1]))
                with receiver._lock:
                    receiver.received.append(Received(headers.get("webhook-id", ""), body, status, verified))
                if status == 0:
                    self.close_connection = True
                    return
                try:
                    self.send_response(status)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass

            def log_message(self, *_args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def is_down(self) -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) != 0

    def accepted(self) -> list[Received]:
        """What the receiver took (answered 2xx), in arrival order."""
        with self._lock:
            return [r for r in self.received if 200 <= r.status < 300]

    def all(self) -> list[Received]:
        with self._lock:
            return list(self.received)
