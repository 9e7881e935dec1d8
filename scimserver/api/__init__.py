"""The HTTP layer: Flask blueprints, auth, JSON and error handling; thin by design."""
