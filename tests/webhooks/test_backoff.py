"""Full-jitter backoff stays within its exponential envelope and its cap."""

from __future__ import annotations

import random

from scimserver.service.worker import backoff


def test_backoff_is_bounded_by_the_envelope_and_the_cap() -> None:
    rng = random.Random(7)
    for attempt in range(1, 12):
        ceiling = min(30.0, 0.5 * 2 ** (attempt - 1))
        delays = [backoff(attempt, 0.5, 30.0, rng) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jittered across the range, not pinned low
    assert 0 <= backoff(10_000, 0.5, 30.0, rng) <= 30.0  # no overflow far into retries
