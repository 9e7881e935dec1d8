"""A webhook receiver for tests: a threaded HTTP server on 127.0.0.1 that records every
POST and answers with the status its ``script`` gives (default 204)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes

    @property
    def event(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.body)
        return data

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


Script = Callable[[Received, int], "int | tuple[int, bytes] | tuple[int, bytes, dict[str, str]]"]
"""Given a request and how many requests came before it, the status (body, headers) to answer."""


class Receiver:
    def __init__(self, script: Script | None = None, port: int = 0) -> None:
        self.script: Script = script or (lambda _request, _count: 204)
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                request = Received(
                    {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)
                )
                with receiver.lock:
                    count = len(receiver.requests)
                    receiver.requests.append(request)
                answer = receiver.script(request, count)
                status, body, *more = answer if isinstance(answer, tuple) else (answer, b"")
                self.send_response(status)
                for name, value in (more[0] if more else {}).items():
                    self.send_header(name, value)
                if body:
                    self.send_header("content-type", "application/json")
                    self.send_header("content-language", "en")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def events(self) -> list[dict[str, Any]]:
        with self.lock:
            return [r.event for r in self.requests]

    def ids(self) -> list[str]:
        with self.lock:
            return [r.id for r in self.requests]

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The first ``count`` events, waiting (bounded) for them to arrive."""
        deadline = time.monotonic() + timeout
        while len(self.requests) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        events = self.events()
        assert len(events) >= count, f"got {len(events)} of {count}: {events}"
        return events
