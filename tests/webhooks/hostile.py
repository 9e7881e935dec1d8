"""Receivers that misbehave, for tests of the sender's limits, on 127.0.0.1 only.

``Trickler`` answers one byte every ``interval`` seconds, the status line included, so
no single read ever waits long. ``Flood`` answers a ``size``-byte body, written from
one reused 64 KB buffer (never held whole), until the sender hangs up. Both stop after
a bounded number of writes and count what they sent.
"""

from __future__ import annotations

import contextlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HOST = "127.0.0.1"
CHUNK = b"x" * 65536


class _Server:
    def __init__(self) -> None:
        self.requests = 0
        self.sent = 0
        self.lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", "0")))
                with owner.lock:
                    owner.requests += 1
                with contextlib.suppress(OSError):  # the sender hung up: what these are for
                    owner.answer(self)
                self.close_connection = True

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer((HOST, 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        raise NotImplementedError

    def count(self, sent: int) -> None:
        with self.lock:
            self.sent += sent

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server.server_address[1]}/hook"

    def __enter__(self) -> _Server:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


class Trickler(_Server):
    def __init__(self, interval: float = 2.0, most: int = 60) -> None:
        super().__init__()
        self.interval = interval
        self.most = most

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        response = b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n"
        for byte in response[: self.most]:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
            self.count(1)
            time.sleep(self.interval)


class Flood(_Server):
    def __init__(self, size: int = 150 * 1024 * 1024, status: int = 200) -> None:
        super().__init__()
        self.size = size
        self.status = status

    def answer(self, handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(self.status)
        handler.send_header("content-type", "application/json")
        handler.send_header("content-length", str(self.size))
        handler.end_headers()
        for _ in range(self.size // len(CHUNK)):
            handler.wfile.write(CHUNK)
            self.count(len(CHUNK))
