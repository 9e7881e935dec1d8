"""Typed ORM models: tenants, tokens, resources, their value index and group memberships."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from scimserver.store.sealed import Sealed

STR_KEY_LENGTH = 128
"""Indexed prefix of a string value; the full value is compared too (index-size safe)."""


class Base(DeclarativeBase):
    pass


class Tenant(Base):
    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created: Mapped[datetime] = mapped_column(DateTime)


class Token(Base):
    """A bearer token: only its SHA-256 is stored; ``prefix`` finds it, never authenticates."""

    __tablename__ = "tokens"
    __table_args__ = (UniqueConstraint("tenant_id", "name", name="uq_tokens_tenant_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(32), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[str] = mapped_column(String(16))
    created: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime)
    previous_prefix: Mapped[str | None] = mapped_column(String(32), unique=True, index=True)
    """After a rotation, the old secret's prefix: it still authenticates until
    ``previous_expires_at``, so an IdP can be switched to the new secret without a gap."""
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_expires_at: Mapped[datetime | None] = mapped_column(DateTime)


class Resource(Base):
    """A User, Group or other resource: lookup columns plus the canonical document.

    ``data`` holds the client-settable attributes only: never id, meta, members,
    groups or password, which live in columns or tables of their own.
    """

    __tablename__ = "resources"
    __table_args__ = (
        UniqueConstraint(
            "tenant_id", "resource_type", "user_name_key", name="uq_resources_user_name"
        ),
        Index("ix_resources_listing", "tenant_id", "resource_type", "created", "id"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    resource_type: Mapped[str] = mapped_column(String(64))
    user_name_key: Mapped[str | None] = mapped_column(String(512))
    display_name: Mapped[str | None] = mapped_column(Text)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[datetime] = mapped_column(DateTime)
    last_modified: Mapped[datetime] = mapped_column(DateTime)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    password_hash: Mapped[str | None] = mapped_column(Text)

    # Every ORM UPDATE and DELETE of a resource says ``WHERE id = ? AND version = ?`` (the
    # version it read), so a write can never land on a version it did not see. The service
    # sets the next version itself, hence no generator.
    __mapper_args__ = {"version_id_col": version, "version_id_generator": False}


class AttributeValue(Base):
    """One leaf value of a resource document, typed and normalised for filtering.

    ``path`` is the lowercase attribute path (``emails.value``, ``name.givenname``,
    ``urn:…:enterprise:2.0:user:manager.value``); ``ordinal`` is the element's
    position in a multi-valued attribute (0 for singular ones), so sub-attributes
    of one element can be correlated. Strings are case-folded unless caseExact.
    """

    __tablename__ = "attribute_values"
    __table_args__ = (
        Index("ix_attribute_values_lookup", "tenant_id", "path", "str_key"),
        # Most values are strings or booleans: these two hold only the rows they can find.
        Index(
            "ix_attribute_values_num",
            "tenant_id",
            "path",
            "num_value",
            postgresql_where=text("num_value IS NOT NULL"),
            sqlite_where=text("num_value IS NOT NULL"),
        ),
        Index(
            "ix_attribute_values_time",
            "tenant_id",
            "path",
            "time_value",
            postgresql_where=text("time_value IS NOT NULL"),
            sqlite_where=text("time_value IS NOT NULL"),
        ),
        Index("ix_attribute_values_resource", "resource_id", "path"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    resource_id: Mapped[str] = mapped_column(ForeignKey("resources.id", ondelete="CASCADE"))
    tenant_id: Mapped[int] = mapped_column(Integer)
    path: Mapped[str] = mapped_column(String(512))
    ordinal: Mapped[int] = mapped_column(Integer, default=0)
    str_key: Mapped[str | None] = mapped_column(String(STR_KEY_LENGTH))
    str_value: Mapped[str | None] = mapped_column(Text)
    num_value: Mapped[float | None] = mapped_column(Float)
    time_value: Mapped[datetime | None] = mapped_column(DateTime)
    bool_value: Mapped[bool | None] = mapped_column(Boolean)


class Membership(Base):
    """A member (User or Group) of a group: the only place membership is stored."""

    __tablename__ = "memberships"
    __table_args__ = (Index("ix_memberships_member", "member_id", "group_id"),)

    group_id: Mapped[str] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[str] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    member_type: Mapped[str] = mapped_column(String(64))
    tenant_id: Mapped[int] = mapped_column(Integer)
    display: Mapped[str | None] = mapped_column(Text)
    """The ``display`` the client sent for this member, returned as sent."""
    display_key: Mapped[str | None] = mapped_column(Text)
    """``display`` case-folded, for case-insensitive filters."""


class ServerKey(Base):
    """Server-wide secrets shared by every worker and host (e.g. the cursor signing key)."""

    __tablename__ = "server_keys"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Sealed(created_length=128))


class Change(Base):
    """One committed change, appended in the transaction that made it (the change log).

    ``seq`` is strictly increasing per tenant in commit order: it is taken from the
    tenant's :class:`FeedHead` as the transaction's last statements, whose row lock is
    held until commit, so no change with a lower ``seq`` can commit after a higher one.
    """

    __tablename__ = "changes"
    __table_args__ = (
        Index("ix_changes_resource", "tenant_id", "resource_id", "seq"),
        # A user's history includes the membership events naming it as the member; only
        # those rows carry member_id, so the index skips every other change.
        Index(
            "ix_changes_member",
            "tenant_id",
            "member_id",
            "seq",
            postgresql_where=text("member_id IS NOT NULL"),
            sqlite_where=text("member_id IS NOT NULL"),
        ),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[str] = mapped_column(String(36))
    """A random UUID: unique by construction, so no index is kept for it."""
    type: Mapped[str] = mapped_column(String(32))
    operation: Mapped[str] = mapped_column(String(8))
    """The SCIM method that made it: POST, PUT, PATCH or DELETE."""
    resource_type: Mapped[str] = mapped_column(String(64))
    resource_id: Mapped[str] = mapped_column(String(36))
    external_id: Mapped[str | None] = mapped_column(Text)
    display: Mapped[str | None] = mapped_column(Text)
    """userName for users, displayName for groups, as they were after the change."""
    attributes: Mapped[list[str] | None] = mapped_column(JSON)
    member_id: Mapped[str | None] = mapped_column(String(36))
    member_type: Mapped[str | None] = mapped_column(String(64))
    version: Mapped[int | None] = mapped_column(Integer)
    """The resource's version after the change (None once deleted)."""
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """The stored document after a create or update (never a password), for full events."""
    actor: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(64))
    """The client's ``X-Request-Id`` (or the server's): for logs and the feed, never a ``txn``."""
    time: Mapped[datetime] = mapped_column(DateTime)
    txn: Mapped[str | None] = mapped_column(String(36))
    """A random UUID per write transaction, shared by every change it made (a SET's
    ``txn``); None for changes logged before it existed."""


class FeedHead(Base):
    """A tenant's change counter: the last ``seq`` handed out, and what retention pruned."""

    __tablename__ = "feed_heads"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    pruned_through: Mapped[int] = mapped_column(BigInteger, default=0)


class Subscription(Base):
    """A webhook: where a tenant's changes are pushed, how, and how far it has got.

    ``cursor`` is the seq of the last change handled (delivered, parked or filtered out);
    it only moves once the receiver has answered 2xx or the change is parked. A worker
    owns the subscription while ``lease_owner`` is set and ``lease_until`` is ahead;
    ``attempts`` counts failures of the change now due, retried at ``next_attempt_at``.
    """

    __tablename__ = "webhook_subscriptions"
    __table_args__ = (Index("ix_webhook_subscriptions_due", "state", "next_attempt_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    format: Mapped[str] = mapped_column(String(16))
    events: Mapped[list[str] | None] = mapped_column(JSON)
    """The change types delivered; None delivers every type."""
    full: Mapped[bool] = mapped_column(Boolean, default=False)
    """``set`` format: full-mode SETs (``data``) instead of notices (changed attributes)."""
    insecure_http: Mapped[bool] = mapped_column(Boolean, default=False)
    """Added with ``--insecure-http``: the URL may be plain ``http``."""
    private_network: Mapped[bool] = mapped_column(Boolean, default=False)
    """Added with ``--allow-private-network``: loopback, private, link-local may be reached."""
    secret: Mapped[str] = mapped_column(Sealed(created_length=128))
    previous_secret: Mapped[str | None] = mapped_column(Sealed(created_length=128))
    previous_expires_at: Mapped[datetime | None] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(String(16))
    max_attempts: Mapped[int] = mapped_column(Integer)
    created: Mapped[datetime] = mapped_column(DateTime)
    cursor: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime] = mapped_column(DateTime)


class DeliveryAttempt(Base):
    """One POST of one change to one subscription, and what came of it."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("ix_webhook_attempts_subscription", "subscription_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    change_seq: Mapped[int] = mapped_column(BigInteger)
    change_id: Mapped[str] = mapped_column(String(36))
    attempt: Mapped[int] = mapped_column(Integer)
    time: Mapped[datetime] = mapped_column(DateTime)
    status: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    duration_ms: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(16))
    """delivered, retry or parked."""


class DeadLetter(Base):
    """A change a subscription gave up on; ``queued`` once ``webhook redeliver`` asks again."""

    __tablename__ = "webhook_dead_letters"
    __table_args__ = (
        UniqueConstraint("subscription_id", "change_seq", name="uq_webhook_dead_letters"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(
        ForeignKey("webhook_subscriptions.id", ondelete="CASCADE")
    )
    change_seq: Mapped[int] = mapped_column(BigInteger)
    change_id: Mapped[str] = mapped_column(String(36))
    parked_at: Mapped[datetime] = mapped_column(DateTime)
    reason: Mapped[str] = mapped_column(Text)
    queued: Mapped[bool] = mapped_column(Boolean, default=False)


class SigningKey(Base):
    """A tenant's key that signs its Security Event Tokens.

    The tenant signs with its newest key whose ``retired_at`` is unset; a rotated key
    stays in the tenant's JWKS until ``retired_at`` passes, then leaves it.
    """

    __tablename__ = "signing_keys"
    __table_args__ = (Index("ix_signing_keys_tenant", "tenant_id", "created"),)

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    alg: Mapped[str] = mapped_column(String(16))
    private_pem: Mapped[str] = mapped_column(Sealed())
    public_jwk: Mapped[dict[str, Any]] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(DateTime)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime)


class SetReceiver(Base):
    """An RFC 8936 poll receiver (one per bearer token): the last change seq it was sent."""

    __tablename__ = "set_receivers"
    __table_args__ = (Index("ix_set_receivers_stream", "stream_id", unique=True),)

    token_id: Mapped[int] = mapped_column(
        ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    stream_id: Mapped[str] = mapped_column(String(36))
    """A random UUID: the stream's ``aud`` is ``urn:scimserver:stream:<stream_id>``."""
    cursor: Mapped[int] = mapped_column(BigInteger)
    created: Mapped[datetime] = mapped_column(DateTime)


class SetDelivery(Base):
    """A SET sent to a poll receiver and not yet acknowledged: redelivered as stored."""

    __tablename__ = "set_deliveries"
    __table_args__ = (Index("ix_set_deliveries_order", "token_id", "seq"),)

    token_id: Mapped[int] = mapped_column(
        ForeignKey("set_receivers.token_id", ondelete="CASCADE"), primary_key=True
    )
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    jwt: Mapped[str] = mapped_column(Text)
    delivered_at: Mapped[datetime] = mapped_column(DateTime)


class RateWindow(Base):
    """Requests one token made in one fixed window, summed over every worker and instance."""

    __tablename__ = "rate_windows"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("tokens.id", ondelete="CASCADE"), primary_key=True
    )
    window: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """The window's start, in seconds since the epoch."""
    count: Mapped[int] = mapped_column(Integer)


class RequestRecord(Base):
    """One SCIM request a tenant's IdP made and what it got back, for the admin console.

    Never a header value, a query string or a body: ``subject`` is the userName or
    displayName the request named, ``detail`` the SCIM error's detail.
    """

    __tablename__ = "request_log"
    __table_args__ = (
        Index("ix_request_log_tenant", "tenant_id", "id"),
        Index("ix_request_log_resource", "tenant_id", "resource_id"),
        Index("ix_request_log_subject", "tenant_id", "subject_key"),
    )

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(DateTime)
    request_id: Mapped[str] = mapped_column(String(64))
    client: Mapped[str] = mapped_column(String(100))
    """The token's name: the IdP connection that asked."""
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(512))
    status: Mapped[int] = mapped_column(Integer)
    duration_ms: Mapped[float] = mapped_column(Float)
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(64))
    subject: Mapped[str | None] = mapped_column(String(256))
    subject_key: Mapped[str | None] = mapped_column(String(256))
    """``subject`` casefolded: the console finds a user's requests whatever the case."""
    user_agent: Mapped[str | None] = mapped_column(String(64))
    normalisations: Mapped[list[str] | None] = mapped_column(JSON)
    scim_type: Mapped[str | None] = mapped_column(String(32))
    detail: Mapped[str | None] = mapped_column(Text)
    ignored: Mapped[list[str] | None] = mapped_column(JSON)
    """Attributes the request carried that no schema declares (dropped, not stored)."""


class RefusedRequest(Base):
    """A request refused with 401: no tenant (its token named none), so only admins of
    every connection see it. Of the token, only the public prefix tried, never more."""

    __tablename__ = "refused_requests"
    __table_args__ = (Index("ix_refused_requests_at", "at"),)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    at: Mapped[datetime] = mapped_column(DateTime)
    request_id: Mapped[str] = mapped_column(String(64))
    address: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(512))
    token_prefix: Mapped[str | None] = mapped_column(String(16))
    """The ``scim_<prefix>_`` part of a token of this server's shape, else None."""
    detail: Mapped[str | None] = mapped_column(String(200))


class RequestHour(Base):
    """A tenant's SCIM requests and errors (4xx/5xx) in one clock hour."""

    __tablename__ = "request_hours"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    """The hour's start, in seconds since the epoch."""
    requests: Mapped[int] = mapped_column(Integer)
    errors: Mapped[int] = mapped_column(Integer)
    last_at: Mapped[datetime] = mapped_column(DateTime)


class Admin(Base):
    """A console user: a name, a slow password hash, and whether it is held to some tenants.

    ``restricted`` admins see only the tenants in ``admin_tenants`` (possibly none, once
    those are deleted); unrestricted ones see every tenant and may create connections.
    """

    __tablename__ = "admins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    restricted: Mapped[bool] = mapped_column(Boolean, default=False)
    created: Mapped[datetime] = mapped_column(DateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(DateTime)


class AdminTenant(Base):
    """A tenant a restricted admin may see and manage."""

    __tablename__ = "admin_tenants"

    admin_id: Mapped[int] = mapped_column(
        ForeignKey("admins.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )


class AdminSession(Base):
    """A signed-in console session; only the SHA-256 of the cookie's id is stored."""

    __tablename__ = "admin_sessions"
    __table_args__ = (Index("ix_admin_sessions_admin", "admin_id"),)

    id_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admins.id", ondelete="CASCADE"))
    created: Mapped[datetime] = mapped_column(DateTime)
    last_seen: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)
    """The absolute end: the session ends then even if in use (the idle end is last_seen's)."""


class SignInFailure(Base):
    """One failed console sign-in, under a hashed key (a username's or a client address's).

    Shared through the database, so every worker and instance counts the same failures.
    """

    __tablename__ = "admin_sign_in_failures"
    __table_args__ = (Index("ix_admin_sign_in_failures_key", "key", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime)


class AsyncJob(Base):
    """A SCIM write accepted with ``Prefer: respond-async`` (RFC 9967 §2.5.1.1), kept until
    it has run: its ``txn`` is the ``Set-Txn`` the client was given.

    A runner owns a pending job while ``lease_owner`` is set and ``lease_until`` is ahead;
    a job whose runner died is taken again once the lease has passed. ``start_seq`` is the
    tenant's change-log head when the job was accepted: writes made for the job (their
    ``request_id`` names the job) are looked for only after it. ``outcome`` holds the
    ``misc:asyncresp`` payloads, and ``done_seq`` the seq of the last of their changes.
    """

    __tablename__ = "async_jobs"
    __table_args__ = (
        Index(
            "ix_async_jobs_due",
            "lease_until",
            postgresql_where=text("state = 'pending'"),
            sqlite_where=text("state = 'pending'"),
        ),
    )

    txn: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    actor: Mapped[str] = mapped_column(String(100))
    request_id: Mapped[str] = mapped_column(String(64))
    """The accepting request's id, for logs."""
    method: Mapped[str] = mapped_column(String(8))
    """POST, PUT, PATCH, DELETE, or BULK."""
    resource_type: Mapped[str | None] = mapped_column(String(64))
    resource_id: Mapped[str | None] = mapped_column(String(36))
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    if_match: Mapped[str | None] = mapped_column(Text)
    base_url: Mapped[str] = mapped_column(Text)
    start_seq: Mapped[int] = mapped_column(BigInteger)
    state: Mapped[str] = mapped_column(String(16))
    """``pending`` until it has run, then ``done``."""
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime)
    accepted: Mapped[datetime] = mapped_column(DateTime)
    completed: Mapped[datetime | None] = mapped_column(DateTime)
    outcome: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON)
    done_seq: Mapped[int | None] = mapped_column(BigInteger)


class AccessRuleSet(Base):
    """A tenant's access rules, apart from its mappings: mode, default role, admin source.

    ``admin_group_id`` names a group by id (rename-stable) and has no foreign key: a
    deleted group keeps its rule, and nobody is in it.
    """

    __tablename__ = "access_rules"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    id: Mapped[str] = mapped_column(String(36))
    """A random UUID: the rules' ``resource_id`` in the change log's audit records."""
    mode: Mapped[str] = mapped_column(String(8))
    default_role: Mapped[str | None] = mapped_column(String(100))
    admin_attribute: Mapped[str | None] = mapped_column(String(512))
    admin_group_id: Mapped[str | None] = mapped_column(String(36))


class AccessMapping(Base):
    """An app group fed by one IdP group: the key makes it at most one per app group."""

    __tablename__ = "access_mappings"
    __table_args__ = (Index("ix_access_mappings_group", "tenant_id", "group_id"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    app_group: Mapped[str] = mapped_column(String(100), primary_key=True)
    group_id: Mapped[str] = mapped_column(String(36))
    """The IdP group's id (no foreign key: see :class:`AccessRuleSet`)."""
    priority: Mapped[int] = mapped_column(Integer)


class IdentityAccess(Base):
    """A person's effective access as last announced (``identity.access_changed``), and
    the admin value a source last gave (kept while the source says nothing)."""

    __tablename__ = "identity_access"

    user_id: Mapped[str] = mapped_column(
        ForeignKey("resources.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(Integer)
    app_groups: Mapped[list[str]] = mapped_column(JSON)
    roles: Mapped[list[str]] = mapped_column(JSON)
    is_admin: Mapped[bool | None] = mapped_column(Boolean)
    admin_known: Mapped[bool | None] = mapped_column(Boolean)


class AccessJob(Base):
    """People whose access an edit of the rules may have moved, settled in batches by the
    worker: the members of ``group_id``, or every user of the tenant when it is None.
    ``before`` holds the rules as they were, ``after_id`` the last user settled."""

    __tablename__ = "access_jobs"
    __table_args__ = (Index("ix_access_jobs_pending", "state", "created"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    group_id: Mapped[str | None] = mapped_column(String(36))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after_id: Mapped[str] = mapped_column(String(36))
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(100))
    created: Mapped[datetime] = mapped_column(DateTime)
