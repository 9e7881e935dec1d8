"""Which resources a name refers to, for the audit command: the change log remembers
names a resource has since dropped, the resources table knows the current ones."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scimserver.store.models import Change, Resource


def resource_ids(
    session: Session, tenant_id: int, resource_type: str, name: str, by_user_name: bool
) -> list[str]:
    """Ids of the ``resource_type`` resources whose id, or name, is ``name``: their
    userName when ``by_user_name`` (their type's naming attribute), else displayName.

    userNames match case-insensitively (they are caseExact=false), displayNames exactly.
    """
    key = name.casefold()
    if by_user_name:
        logged = func.lower(Change.display) == name.lower()
        current = Resource.user_name_key == key
    else:
        logged = Change.display == name
        current = Resource.display_name == name
    from_log = select(Change.resource_id).where(
        Change.tenant_id == tenant_id,
        Change.resource_type == resource_type,
        (Change.resource_id == name) | logged,
    )
    from_resources = select(Resource.id).where(
        Resource.tenant_id == tenant_id,
        Resource.resource_type == resource_type,
        (Resource.id == name) | current,
    )
    found = set(session.scalars(from_log.distinct())) | set(session.scalars(from_resources))
    return sorted(found)
