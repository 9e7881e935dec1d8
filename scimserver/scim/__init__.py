"""SCIM semantics as pure functions: filters, PATCH, projection, paging, versions."""
