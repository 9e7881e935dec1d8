"""The ``set`` webhook format: RFC 8935 push of signed Security Event Tokens.

What one transaction did to one resource is POSTed as one SET (``scim.sets.units``, as
over poll; ``Content-Type: application/secevent+jwt``, ``Accept: application/json``),
signed with the tenant's ES256 key (published at ``<iss>/jwks.json``), ``aud`` the
subscription's URL, ``jti`` stable across retries of the same SET to the same
subscription. A 2xx (RFC 8935 says 202) is delivered;
a 400 whose ``err`` says the SET itself is wrong (RFC 8935 §2.4: ``invalid_request``,
``invalid_key``, ``invalid_issuer``, ``invalid_audience``) is parked at once, since
sending it again cannot help; anything else, ``access_denied`` and
``authentication_failed`` included (credentials may be fixed), is retried.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence

from scimserver.scim import sets
from scimserver.service.delivery import Message, Verdict
from scimserver.service.sets import IssuerMissing, SetIssuer
from scimserver.service.webhooks import WebhookError
from scimserver.store.models import Change, Subscription

SET_MEDIA_TYPE = "application/secevent+jwt"
PERMANENT = frozenset({"invalid_request", "invalid_key", "invalid_issuer", "invalid_audience"})


class SetFormatter:
    """``issuers`` gives a tenant's :class:`SetIssuer`; it raises :class:`IssuerMissing`
    while ``SCIMSERVER_BASE_URL`` is unset, and so does ``render``: the worker then
    sends nothing and the subscription's changes wait (see ``Server.worker``)."""

    def __init__(self, issuers: Callable[[int], SetIssuer]) -> None:
        self.issuers = issuers

    def units(self, changes: Sequence[Change]) -> list[list[Change]]:
        return sets.units(changes)  # the grouping poll uses: one SET per resource per txn

    def render(self, subscription: Subscription, unit: Sequence[Change]) -> Message:
        receiver = f"webhook:{subscription.id}"
        issuer = self.issuers(subscription.tenant_id)
        _, token = issuer.encode(unit, subscription.url, subscription.full, receiver)
        return Message(unit[0].id, _headers(), token.encode("ascii"))

    def test(self, subscription: Subscription) -> Message:
        try:
            issuer = self.issuers(subscription.tenant_id)
        except IssuerMissing as exc:
            raise WebhookError(exc.detail) from None
        jti, token = issuer.verification(subscription.url)
        return Message(jti, _headers(), token.encode("ascii"))

    def verdict(self, status: int, body: bytes) -> Verdict:
        if 200 <= status < 300:
            return Verdict.DELIVERED
        if status == 400 and _error_code(body) in PERMANENT:
            return Verdict.REJECT
        return Verdict.RETRY


def _headers() -> dict[str, str]:
    return {"content-type": SET_MEDIA_TYPE, "accept": "application/json"}


def _error_code(body: bytes) -> str | None:
    try:
        found = json.loads(body)
    except ValueError:
        return None
    code = found.get("err") if isinstance(found, dict) else None
    return code if isinstance(code, str) else None
