"""Storage: engine, ORM models, repositories, the filter translator and migrations."""
