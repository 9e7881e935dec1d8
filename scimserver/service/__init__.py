"""Use cases: each service owns its transaction and calls the store and the SCIM rules."""
