"""PostgreSQL's planner statistics, kept current while the tables fill.

A table loaded since its last ANALYZE (an IdP's first sync of thousands of users, with
autovacuum off or not yet round: it looks once a minute) has no statistics, and the
planner cannot tell the unique userName index from the tenant's listing index: at 5,000
users a lookup read every one of them (4.5 ms instead of 0.05 ms, growing with the
table), and lookups ran at 586/s instead of 976/s. :class:`Statistics` ANALYZEs this
schema's tables a few seconds after writes once they are due: their row count moved by
more than ``autovacuum_analyze_threshold`` plus as many rows as they held at their last
ANALYZE (``GROWTH``). Where autovacuum keeps up, nothing is ever due and a round is one
query.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import URL, create_engine, text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from scimserver.store.rounds import AfterCommits

ANALYZE_INTERVAL = 5.0
"""Seconds from a commit to the round that checks for tables due (at most one a round)."""
GROWTH = 1.0
"""Rows gained or lost, as a share of those counted at the last ANALYZE, that make a
table due: one that doubled (or halved) is analyzed, and in between the planner scales
the row count it was given by the table's current size.

Autovacuum's own rule (rows changed, 10%) suits a round a minute; under steady writes
every round found the big tables due, each ANALYZE took a core for a while (0.1 s for
attribute_values at 110,000 rows) and left every backend's cached plans on the table to
be made again, and the slow 1% of writes came in those windows (scimbench, 8 clients:
p99 create / PATCH / PUT 35 / 37 / 42 ms with 0.1, 33 / 32 / 35 ms with 1.0). Rows
changed in place do not count: the feed's head, one row per tenant that every write
updates, was analyzed every round (every 2-3 s), and every write statement names it.
"""

_DATABASE = (SQLAlchemyError,)
_ONE_AT_A_TIME = text("SELECT pg_try_advisory_lock(7366537123)")  # every worker may try
_DUE = text(
    """
    SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
    WHERE s.schemaname = current_schema()
      AND abs(s.n_live_tup - greatest(c.reltuples, 0))
        > current_setting('autovacuum_analyze_threshold')::int
          + :growth * greatest(c.reltuples, 0)
    """
).bindparams(growth=GROWTH)


class Statistics:
    """ANALYZEs the tables whose statistics fell behind, a few seconds after commits (from
    a daemon thread), on a connection of its own (never the pool's)."""

    def __init__(
        self, url: URL, tables: Collection[str], interval: float = ANALYZE_INTERVAL
    ) -> None:
        self.tables = frozenset(tables)
        # NullPool: a round connects and disconnects, so nothing is shared across a fork,
        # and the dialect's first-connect queries run once, not every round.
        self._engine = create_engine(url, poolclass=NullPool)
        self.rounds = AfterCommits(self.analyze, interval, "scimserver-analyze", _DATABASE)
        self.nudge = self.rounds.nudge

    def analyze(self) -> list[str]:
        """ANALYZE this schema's tables that are due; the names of those analyzed (none
        while another process holds the round)."""
        with self._engine.connect() as connection:
            if not connection.execute(_ONE_AT_A_TIME).scalar():
                return []
            due = sorted(set(connection.execute(_DUE).scalars()) & self.tables)
            quote = connection.dialect.identifier_preparer.quote
            for name in due:  # a name of our own schema's tables, never a client's text
                connection.exec_driver_sql(f"ANALYZE {quote(name)}")
            connection.commit()
        return due
