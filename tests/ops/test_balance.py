"""Kept-alive connections spread evenly over ``serve``'s workers (``scimserver.api.balance``).

Each worker runs one request at a time, so a worker holding six of eight clients' connections
answers them three times as slowly as one holding two. Which worker owns a connection is
read from ``/proc``: the socket inode of each accepted connection, in each worker's fds.
The database plays no part in it, so one (SQLite) is enough.
"""

from __future__ import annotations

import os
import socket
import time
from collections import Counter
from pathlib import Path

import pytest

from scimserver.api.balance import Share, Shares
from tests.live import HOST, LiveServer

pytestmark = pytest.mark.slow
ROUNDS = 3
CLIENTS = 8


def test_a_worker_over_the_average_takes_no_more() -> None:
    shares = Shares(2)
    first, second = Share(shares, 0), Share(shares, 1)
    first.hold(1)
    second.hold(0)
    assert not first.may_accept(1)  # 1 against 0: over the average
    assert second.may_accept(0)
    second.hold(1)
    assert first.may_accept(1) and second.may_accept(1)  # even: either may take the next


def test_a_vacant_slot_is_left_out_of_the_average() -> None:
    shares = Shares(2)
    first, second = Share(shares, 0), Share(shares, 1)
    first.hold(4)
    assert first.may_accept(4)  # the other worker is not up yet: this one takes them all
    second.hold(0)
    assert not first.may_accept(4)
    second.leave()  # it died: until its successor is up, the live one takes every connection
    assert first.may_accept(4)


def test_a_free_slot_is_the_lowest_no_live_worker_holds() -> None:
    shares = Shares(3)
    assert shares.free_slot([]) == 0
    assert shares.free_slot([0, 2]) == 1
    assert shares.free_slot([0, 1, 2]) is None


def _owners(server: LiveServer) -> Counter[int]:
    """How many of the server port's established connections each worker holds."""
    inodes = _server_side_inodes(server.port)
    owners: Counter[int] = Counter()
    for pid in server.worker_pids():
        fds = Path(f"/proc/{pid}/fd")
        for fd in fds.iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                owners[pid] += 1
    return owners


def _server_side_inodes(port: int) -> set[str]:
    """Inodes of established TCP sockets whose local port is ``port`` (/proc/net/tcp)."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local_port = int(fields[1].split(":")[1], 16)
        if local_port == port and fields[3] == "01":  # 01: ESTABLISHED
            inodes.add(fields[9])
    return inodes


def _connect_and_ask(port: int) -> socket.socket:
    """A kept-alive connection that has had one answer (so a worker has taken it)."""
    sock = socket.create_connection((HOST, port), timeout=10)
    sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
    answer = b""
    while not _complete(answer):
        chunk = sock.recv(4096)
        assert chunk, "the server closed a kept-alive connection"
        answer += chunk
    assert answer.startswith(b"HTTP/1.1 200"), answer
    return sock


def _complete(answer: bytes) -> bool:
    head, found, body = answer.partition(b"\r\n\r\n")
    if not found:
        return False
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    return len(body) >= length


def test_connections_opened_one_after_another_split_evenly(tmp_path: Path) -> None:
    env = {"SCIMSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'scim.db'}"}
    with LiveServer(env, workers=2, cwd=tmp_path, log_dir=tmp_path) as server:
        for _ in range(ROUNDS):  # unbalanced, all rounds even by chance: (70/256)**3 ≈ 2%
            clients = []
            try:
                for _ in range(CLIENTS):
                    clients.append(_connect_and_ask(server.port))
                    time.sleep(0.2)  # each worker has looked at the other's count since
                owners = _owners(server)
                assert sorted(owners.values()) == [CLIENTS // 2, CLIENTS // 2], owners
            finally:
                for sock in clients:
                    sock.close()
            time.sleep(0.3)  # the workers see the closes before the next round
