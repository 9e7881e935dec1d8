"""A worker runs a few requests at a time; a request that waits gives its place back."""

from __future__ import annotations

import threading
import time

from scimserver.pacing import Pacing, paused


def _run(pacing: Pacing, work: float, log: list[tuple[str, float]], name: str) -> None:
    with pacing.slot():
        log.append((f"{name} in", time.monotonic()))
        time.sleep(work)
        log.append((f"{name} out", time.monotonic()))


def test_one_slot_runs_requests_one_after_another_in_order() -> None:
    pacing, log = Pacing(1), []
    first = threading.Thread(target=_run, args=(pacing, 0.2, log, "a"))
    first.start()
    time.sleep(0.05)
    second = threading.Thread(target=_run, args=(pacing, 0.0, log, "b"))
    second.start()
    first.join(5)
    second.join(5)
    assert [event for event, _ in log] == ["a in", "a out", "b in", "b out"]


def test_a_waiting_request_gives_its_slot_back_and_takes_one_again() -> None:
    pacing, log = Pacing(1), []
    released = threading.Event()

    def waiter() -> None:
        with pacing.slot():
            with paused():
                released.wait(5)  # a long-poll: another request runs meanwhile
            log.append(("waiter resumed", time.monotonic()))

    thread = threading.Thread(target=waiter)
    thread.start()
    time.sleep(0.05)
    _run(pacing, 0.0, log, "other")  # not blocked by the waiting one
    released.set()
    thread.join(5)
    assert [event for event, _ in log] == ["other in", "other out", "waiter resumed"]


def test_no_limit_and_no_slot_hold_nothing() -> None:
    with Pacing(0).slot(), paused():  # a thread that holds no slot pauses nothing
        pass


def test_a_released_slot_goes_to_the_longest_waiter_not_back_to_a_busy_thread() -> None:
    pacing, served = Pacing(1), []
    stop = threading.Event()

    def busy() -> None:  # releases and asks again at once, like a client's request loop
        while not stop.is_set():
            with pacing.slot():
                time.sleep(0.001)

    hog = threading.Thread(target=busy)
    hog.start()
    time.sleep(0.05)
    began = time.monotonic()
    _run(pacing, 0.0, served, "waiter")
    waited = time.monotonic() - began
    stop.set()
    hog.join(5)
    assert [event for event, _ in served] == ["waiter in", "waiter out"]
    assert waited < 0.5  # served after the hog's current turn, not after its whole loop
