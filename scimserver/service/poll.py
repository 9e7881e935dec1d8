"""RFC 8936 poll delivery: each bearer token is a receiver of its tenant's SETs.

A receiver's stream has a server-assigned ``aud``, ``urn:scimserver:stream:<uuid>``
(:meth:`SetPoller.describe` tells it, with the tenant's ``iss`` and JWKS URL).

A receiver starts at the change log's head when it first polls (no backfill). Each
poll first releases what it acknowledges (``ack``) or refuses (``setErrs``, logged),
then answers the receiver's unacknowledged SETs again (same ``jti``, same bytes),
oldest first, and fills up to ``maxEvents`` with SETs for the changes after its
cursor: one SET per resource per transaction, and no transaction split between
polls (so a transaction touching more resources than ``maxEvents`` exceeds it).
With nothing to send and ``returnImmediately`` false, the poll waits until
the tenant's log grows or ``max_wait`` seconds pass — unless the token or the process
already holds as many waits as it may (service/waits.py): then it answers at once, as
RFC 8936 §2.4 allows.
"""

from __future__ import annotations

import logging
from contextlib import suppress
from dataclasses import dataclass
from itertools import islice

from sqlalchemy.orm import Session

from scimserver.errors import TooManyWaits
from scimserver.scim.poll import PollRequest
from scimserver.scim.sets import stream_audience, units
from scimserver.scim.versions import now
from scimserver.service.sets import SetIssuer
from scimserver.service.tokens import Principal
from scimserver.service.waits import Waits
from scimserver.store.changes import ChangeRepository
from scimserver.store.db import Database
from scimserver.store.set_streams import ReceiverStream

log = logging.getLogger(__name__)

MAX_WAIT = 25.0
"""The longest a long poll is held (RFC 8936 §2.5 leaves it to agreement)."""
REFUSALS_NAMED = 3
REFUSAL_CHARS = 200
"""A poll's log line names its first few refused SETs, their err and description cut."""


@dataclass(frozen=True)
class PollResult:
    sets: dict[str, str]
    more_available: bool


@dataclass(frozen=True)
class StreamInfo:
    """What a receiver pins: the issuer, the JWKS it publishes, the stream's audience."""

    issuer: str
    jwks_uri: str
    audience: str
    full: bool


class SetPoller:
    """One receiver's poll: the token's tenant and stream, SETs in notice or full mode."""

    def __init__(
        self,
        db: Database,
        waits: Waits,
        issuer: SetIssuer,
        receiver: Principal,
        full: bool = False,
        max_wait: float = MAX_WAIT,
    ) -> None:
        self.db = db
        self.waits = waits
        self.issuer = issuer
        self.receiver = receiver
        self.full = full
        self.max_wait = max_wait

    @property
    def receiver_id(self) -> str:
        """What the ``jti`` is derived from: unique to this token's poll stream."""
        return f"poll:{self.receiver.token_id}"

    def describe(self) -> StreamInfo:
        """The stream's issuer, JWKS URL and audience (registering the stream, as a
        first poll does)."""
        with self.db.write() as session:
            stream, head = self._open(session)
            _, stream_id = stream.open(head, now())
        issuer = self.issuer
        return StreamInfo(issuer.issuer, issuer.jwks_uri, stream_audience(stream_id), self.full)

    def poll(self, request: PollRequest) -> PollResult:
        cursor, available = self._settle(request)
        if not available and not request.return_immediately:
            receiver = self.receiver
            with suppress(TooManyWaits):
                self.waits.wait(receiver.token_id, receiver.tenant_id, cursor, self.max_wait)
        return self._collect(request.max_events)

    def _stream(self, session: Session) -> ReceiverStream:
        return ReceiverStream(session, self.receiver.token_id, self.receiver.tenant_id)

    def _settle(self, request: PollRequest) -> tuple[int, bool]:
        """Release acked and refused SETs; returns (cursor, whether anything is waiting)."""
        with self.db.write() as session:
            stream, head = self._open(session)
            cursor, _ = stream.open(head, now())
            unknown = len(request.ack) - stream.release(request.ack)
            if unknown or request.ignored:
                log.info(
                    "SET receiver %r: ignored %d acknowledgement(s) of unknown jtis and %d "
                    "that are no jti",
                    self.receiver.name,
                    unknown,
                    request.ignored,
                )
            self._log_refused(request)
            stream.release(request.errors)
            return cursor, head > cursor or stream.outstanding_count() > 0

    def _log_refused(self, request: PollRequest) -> None:
        """One line for a poll's ``setErrs``: how many, and the first few, each clipped."""
        if not request.errors:
            return
        named = [
            f"{jti} ({error.err[:REFUSAL_CHARS]}: {error.description[:REFUSAL_CHARS]})"
            for jti, error in islice(request.errors.items(), REFUSALS_NAMED)
        ]
        count = len(request.errors)
        more = f" and {count - len(named)} more" if count > len(named) else ""
        log.warning(
            "SET receiver %r refused %d SET(s): %s%s",
            self.receiver.name,
            count,
            ", ".join(named),
            more,
            extra={"refused": count},
        )

    def _open(self, session: Session) -> tuple[ReceiverStream, int]:
        head = ChangeRepository(session, self.receiver.tenant_id).position().head
        return self._stream(session), head

    def _collect(self, max_events: int) -> PollResult:
        """Unacknowledged SETs again, then new ones, up to ``max_events`` in all."""
        with self.db.write() as session:
            stream, head = self._open(session)
            moment = now()
            cursor, stream_id = stream.open(head, moment)
            audience = stream_audience(stream_id)
            sets = {d.jti: d.jwt for d in stream.outstanding(max_events)}
            room = max_events - len(sets)
            changes = ChangeRepository(session, self.receiver.tenant_id)
            found = changes.after_whole(cursor, room) if room > 0 else []
            for unit in units(found):
                jti, token = self.issuer.encode(unit, audience, self.full, self.receiver_id)
                stream.deliver(unit[-1].seq, jti, token, moment)
                sets[jti] = token
            cursor = found[-1].seq if found else cursor
            stream.advance(cursor)
            waiting = stream.outstanding_count() - len(sets)
            return PollResult(sets, waiting > 0 or head > cursor)
