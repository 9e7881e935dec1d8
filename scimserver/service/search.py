"""Queries across every resource type: ``GET /`` and ``POST /.search`` at the root."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from scimserver.errors import InvalidFilter, InvalidValue
from scimserver.service.reading import ListQuery, ListResult, ResourceReader
from scimserver.service.streamed import Document, close_all


def search_all(
    readers: Sequence[ResourceReader], query_for: Callable[[ResourceReader], ListQuery]
) -> ListResult:
    """One result list over several resource types, concatenated in registry order.

    ``query_for`` builds each type's query (attribute names resolve per type). A filter
    naming an attribute a type lacks cannot match that type, so the type is skipped;
    when no type understands the filter, the first error is raised.
    """
    plans: list[tuple[ResourceReader, ListQuery, int]] = []
    if query_for(readers[0]).cursor is not None:
        raise InvalidValue("Cursor paging is per resource type: search /Users or /Groups.")
    first_error: InvalidFilter | None = None
    for reader in readers:
        query = query_for(reader)
        try:
            plans.append((reader, query, reader.search(replace(query, count=0)).total))
        except InvalidFilter as exc:
            first_error = first_error or exc
    if not plans:
        raise first_error or InvalidFilter("No resource type matches the filter.")
    reader0, first, _ = plans[0]
    start = max(first.start_index, 1)
    wanted = reader0.default_count if first.count is None else first.count
    remaining = min(max(wanted, 0), reader0.max_count)
    skip = start - 1
    resources: list[Document] = []
    try:
        for reader, query, total in plans:
            if remaining <= 0:
                break
            if skip >= total:
                skip -= total
                continue
            page = reader.search(replace(query, start_index=skip + 1, count=remaining))
            resources.extend(page.resources)
            remaining -= len(page.resources)
            skip = 0
    except BaseException:
        close_all(resources)  # a streamed page of an earlier type holds its transaction
        raise
    return ListResult(sum(total for _, _, total in plans), start, resources)
