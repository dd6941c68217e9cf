"""SQLAlchemy Core storage: tables, repositories, unit of work, Alembic migrations."""
