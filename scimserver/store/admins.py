"""Console admins, their tenants, sessions and sign-in failures: every SQL statement."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from scimserver.store.models import Admin, AdminSession, AdminTenant, SignInFailure, Tenant


class AdminRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def by_name(self, name: str) -> Admin | None:
        return self.session.scalar(select(Admin).where(Admin.name == name))

    def add(self, admin: Admin, tenant_ids: Sequence[int]) -> None:
        """Insert an admin and the tenants it is held to."""
        self.session.add(admin)
        self.session.flush()
        self.session.add_all(AdminTenant(admin_id=admin.id, tenant_id=t) for t in tenant_ids)
        self.session.flush()

    def listing(self) -> list[Admin]:
        return list(self.session.scalars(select(Admin).order_by(Admin.name)))

    def tenant_names(self, admin_id: int) -> list[str]:
        """The names of the tenants the admin is held to, by name."""
        query = (
            select(Tenant.name)
            .join(AdminTenant, AdminTenant.tenant_id == Tenant.id)
            .where(AdminTenant.admin_id == admin_id)
            .order_by(Tenant.name)
        )
        return list(self.session.scalars(query))

    def delete(self, admin_id: int) -> None:
        """Delete the admin; its sessions and tenant links go by FK cascade."""
        self.session.execute(delete(Admin).where(Admin.id == admin_id))

    def set_password(self, admin_id: int, password_hash: str) -> None:
        """A new password hash; every session of the admin ends with the old password."""
        self.session.execute(
            update(Admin).where(Admin.id == admin_id).values(password_hash=password_hash)
        )
        self.session.execute(delete(AdminSession).where(AdminSession.admin_id == admin_id))

    def signed_in(self, admin_id: int, moment: datetime) -> None:
        self.session.execute(
            update(Admin).where(Admin.id == admin_id).values(last_sign_in_at=moment)
        )


class SessionRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def add(self, row: AdminSession) -> None:
        self.session.add(row)
        self.session.flush()

    def find(self, id_hash: str) -> tuple[AdminSession, Admin] | None:
        """The session with this id hash and its admin, or None."""
        query = (
            select(AdminSession, Admin)
            .join(Admin, Admin.id == AdminSession.admin_id)
            .where(AdminSession.id_hash == id_hash)
        )
        row = self.session.execute(query).first()
        return None if row is None else (row[0], row[1])

    def touch(self, id_hash: str, moment: datetime) -> None:
        self.session.execute(
            update(AdminSession).where(AdminSession.id_hash == id_hash).values(last_seen=moment)
        )

    def remove(self, id_hash: str) -> None:
        self.session.execute(delete(AdminSession).where(AdminSession.id_hash == id_hash))

    def remove_ended(self, idle_before: datetime, moment: datetime) -> None:
        """Drop sessions that ran past their idle or absolute end."""
        self.session.execute(
            delete(AdminSession).where(
                (AdminSession.last_seen < idle_before) | (AdminSession.expires_at <= moment)
            )
        )


class FailureRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def count_since(self, keys: Sequence[str], since: datetime) -> int:
        """The most failures any one of ``keys`` has had since ``since``."""
        query = (
            select(func.count())
            .where(SignInFailure.key.in_(keys), SignInFailure.at >= since)
            .group_by(SignInFailure.key)
        )
        return max(self.session.scalars(query), default=0)

    def add(self, keys: Sequence[str], moment: datetime) -> list[int]:
        """One failure under each key; the new rows' ids."""
        rows = [SignInFailure(key=key, at=moment) for key in keys]
        self.session.add_all(rows)
        self.session.flush()
        return [row.id for row in rows]

    def remove(self, ids: Sequence[int]) -> None:
        self.session.execute(delete(SignInFailure).where(SignInFailure.id.in_(ids)))

    def forget_before(self, moment: datetime) -> None:
        """Drop failures that left the window: they are never counted again."""
        self.session.execute(delete(SignInFailure).where(SignInFailure.at < moment))
