"""Filter parsing cost on ordinary and adversarial input; prints a table.

    .venv/bin/python bench/filters.py

Adversarial filters must fail fast with invalidFilter (length and depth are capped
before the parser runs), and ordinary ones must parse in well under a millisecond.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from scimserver.errors import InvalidFilter
from scimserver.schema import default_schema_dir, load_registry
from scimserver.scim.filter import parse_filter

REGISTRY = load_registry([default_schema_dir()])

CASES: dict[str, str | tuple[str, str]] = {
    "userName eq": 'userName eq "bjensen@example.com"',
    "RFC complex": (
        'userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")'
    ),
    "value path": 'emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp"]',
    "Entra membership": ("Group", 'id eq "a" and members eq "b"'),
    "200 comparisons": " or ".join(f'title eq "{i}"' for i in range(200)),
    "201 comparisons": " or ".join(f'title eq "{i}"' for i in range(201)),
    "10k characters": 'userName eq "' + "x" * 10_000 + '"',
    "1,000 nested parens": "(" * 1000 + 'userName eq "x"' + ")" * 1000,
    "1,000-term or chain": " or ".join(f'title eq "{i}"' for i in range(1000)),
    "random bytes": "\x00\xff(([[]" * 500,
}


def timed(parse: Callable[[], object], rounds: int) -> tuple[float, str]:
    """Median microseconds per call, and whether it parsed or was rejected."""
    samples, outcome = [], "parsed"
    for _ in range(rounds):
        start = time.perf_counter()
        try:
            parse()
        except InvalidFilter:
            outcome = "invalidFilter"
        samples.append(time.perf_counter() - start)
    return statistics.median(samples) * 1e6, outcome


def main() -> None:
    print(f"{'filter':<22}{'length':>8}{'median µs':>12}  outcome")
    for name, case in CASES.items():
        type_id, text = case if isinstance(case, tuple) else ("User", case)
        resource_type = REGISTRY.resource_type(type_id)
        assert resource_type is not None
        micros, outcome = timed(lambda t=text, r=resource_type: parse_filter(t, r), rounds=200)
        print(f"{name:<22}{len(text):>8}{micros:>12.1f}  {outcome}")


if __name__ == "__main__":
    main()
