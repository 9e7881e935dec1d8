"""A low-CPU asyncio HTTP/1.1 client and a bounded load driver.

One ``Connection`` speaks HTTP/1.1 over a raw asyncio stream and keeps the socket
alive for as long as the server does (gunicorn's sync workers answer
``Connection: close``, so against them every request opens a new TCP connection,
exactly as it does for the ceiling app). ``drive`` runs N such connections
concurrently until a request count *or* a time limit is reached, whichever comes first.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import resource
import socket
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

REQUEST_TIMEOUT = 60.0
"""Seconds one request may take before it counts as an error (status 0)."""


def cpu_seconds() -> float:
    """User plus system CPU time this (client) process has used."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


_TICK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def machine_cpu() -> tuple[float, float]:
    """(busy, steal) CPU seconds of the whole machine so far, from /proc/stat (0s elsewhere)."""
    try:
        with open("/proc/stat", "rb") as stat:
            fields = [int(x) for x in stat.readline().split()[1:]]
    except OSError:
        return 0.0, 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = (fields + [0] * 8)[:8]
    return (user + nice + system + irq + softirq) / _TICK, steal / _TICK


@dataclass
class Response:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


class Connection:
    """One HTTP/1.1 connection to host:port that reconnects whenever the server closes it.

    It uses the event loop's raw socket calls (``sock_connect``/``sock_sendall``/
    ``sock_recv``) rather than streams or transports: the fewest Python objects per
    request, which matters because gunicorn's sync workers close after every response.
    """

    def __init__(self, host: str, port: int, token: str | None = None) -> None:
        self.host = host
        self.port = port
        self._fixed = (
            f"Host: {host}:{port}\r\n"
            "User-Agent: scimserver-bench\r\n"
            "Accept: application/scim+json\r\n"
            + (f"Authorization: Bearer {token}\r\n" if token else "")
        ).encode("ascii")
        self._sock: socket.socket | None = None
        self._buffer = bytearray()
        self._eof = False
        self.connects = 0

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
        self._sock = None

    async def request(self, method: str, path: str, body: Any = None) -> Response:
        """Send one request and read the whole response; retries once on a stale socket."""
        payload = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
        head = f"{method} {path} HTTP/1.1\r\n".encode() + self._fixed
        if body is not None:
            head += b"Content-Type: application/scim+json; charset=utf-8\r\n"
        head += f"Content-Length: {len(payload)}\r\n\r\n".encode("ascii")
        reused = self._sock is not None
        try:
            return await self._exchange(head + payload, method)
        except ConnectionError:
            self.close()
            if not reused:
                raise
            return await self._exchange(head + payload, method)

    async def _fill(self, size: int) -> None:
        """Read until the buffer holds ``size`` bytes; raises if the peer closes first."""
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while len(self._buffer) < size:
            chunk = await loop.sock_recv(self._sock, 65536)
            if not chunk:
                self._eof = True
                raise ConnectionResetError("connection closed mid-response")
            self._buffer += chunk

    async def _exchange(self, raw: bytes, method: str) -> Response:
        loop = asyncio.get_running_loop()
        if self._sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                await loop.sock_connect(sock, (self.host, self.port))
            except BaseException:
                sock.close()
                raise
            self._sock = sock
            self.connects += 1
        self._buffer.clear()
        self._eof = False
        await loop.sock_sendall(self._sock, raw)
        while (end := self._buffer.find(b"\r\n\r\n")) < 0:
            await self._fill(len(self._buffer) + 1)
        body_start = end + 4
        lines = self._buffer[:end].decode("latin-1").split("\r\n")
        version, status_text = lines[0].split(" ", 2)[:2]
        status = int(status_text)
        headers: dict[str, str] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        keep = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif "content-length" in headers:
            stop = body_start + int(headers["content-length"])
            await self._fill(stop)
            body = bytes(self._buffer[body_start:stop])
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            body = await self._read_chunked(body_start)
        else:
            with contextlib.suppress(ConnectionResetError):
                while True:
                    await self._fill(len(self._buffer) + 1)
            body = bytes(self._buffer[body_start:])
            keep = False
        if not keep:
            self.close()
        return Response(status, body)

    async def _read_chunked(self, pos: int) -> bytes:
        parts = []
        while True:
            while (eol := self._buffer.find(b"\r\n", pos)) < 0:
                await self._fill(len(self._buffer) + 1)
            size = int(bytes(self._buffer[pos:eol]).split(b";")[0], 16)
            pos = eol + 2
            if size == 0:
                await self._fill(pos + 2)
                return b"".join(parts)
            await self._fill(pos + size + 2)
            parts.append(bytes(self._buffer[pos : pos + size]))
            pos += size + 2


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list (0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), round(pct / 100 * len(sorted_values) + 0.5)))
    return sorted_values[rank - 1]


@dataclass
class Result:
    """What one workload measured; latencies in seconds."""

    name: str
    concurrency: int
    requests: int = 0
    wall: float = 0.0
    client_cpu: float = 0.0
    machine_cpu: float = 0.0
    steal: float = 0.0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)
    note: str = ""
    stopped_by: str = ""

    @property
    def errors(self) -> int:
        """Every response that was not 2xx, plus transport failures (status 0)."""
        return sum(n for status, n in self.statuses.items() if not 200 <= status < 300)

    @property
    def rate(self) -> float:
        return self.requests / self.wall if self.wall > 0 else 0.0

    def pct(self, p: float) -> float:
        return percentile(sorted(self.latencies), p)

    def record(self, status: int, latency: float, detail: str = "") -> None:
        self.requests += 1
        self.latencies.append(latency)
        self.statuses[status] += 1
        if not 200 <= status < 300 and len(self.error_samples) < 5:
            self.error_samples.append(f"{status}: {detail[:300]}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "concurrency": self.concurrency,
            "requests": self.requests,
            "seconds": round(self.wall, 3),
            "requests_per_s": round(self.rate, 1),
            "p50_ms": round(self.pct(50) * 1000, 2),
            "p95_ms": round(self.pct(95) * 1000, 2),
            "p99_ms": round(self.pct(99) * 1000, 2),
            "errors": self.errors,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "error_samples": self.error_samples,
            "client_cpu_s": round(self.client_cpu, 3),
            "machine_cpu_s": round(self.machine_cpu, 2),
            "steal_s": round(self.steal, 2),
            "stopped_by": self.stopped_by,
            "note": self.note,
        }


Step = Callable[[Connection, int], Awaitable[tuple[Response, str | None]]]
"""One unit of work: (connection, sequence number) -> (response, label or None)."""


async def drive(
    name: str,
    host: str,
    port: int,
    token: str | None,
    step: Step,
    *,
    count: int,
    seconds: float,
    concurrency: int,
    per_label: dict[str, Result] | None = None,
) -> Result:
    """Run ``step`` on ``concurrency`` connections until ``count`` steps or ``seconds`` pass.

    Each step is one request; its latency is the time from sending the request to
    having read the whole response (including the TCP connect when the server closed
    the previous one). Labels, when the step returns one, also feed ``per_label``.
    """
    result = Result(name, concurrency)
    issued = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal issued
        conn = Connection(host, port, token)
        try:
            while issued < count and time.perf_counter() < deadline:
                seq = issued
                issued += 1
                start = time.perf_counter()
                label = None
                try:
                    async with asyncio.timeout(REQUEST_TIMEOUT):
                        response, label = await step(conn, seq)
                    status, detail = response.status, response.body.decode("utf-8", "replace")
                except (TimeoutError, OSError, ValueError) as exc:
                    conn.close()
                    status, detail = 0, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - start
                result.record(status, elapsed, detail)
                if label is not None and per_label is not None:
                    per_label.setdefault(label, Result(f"{name}: {label}", concurrency)).record(
                        status, elapsed, detail
                    )
        finally:
            conn.close()

    (busy0, steal0), cpu0, wall0 = machine_cpu(), cpu_seconds(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    result.wall = time.perf_counter() - wall0
    result.client_cpu = cpu_seconds() - cpu0
    busy1, steal1 = machine_cpu()
    result.machine_cpu, result.steal = busy1 - busy0, steal1 - steal0
    result.stopped_by = "count" if issued >= count else "time"
    for sub in (per_label or {}).values():
        sub.wall, sub.client_cpu, sub.stopped_by = result.wall, 0.0, result.stopped_by
    return result
