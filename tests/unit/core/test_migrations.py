"""The ORM models and the Alembic migrations agree, on SQLite and on PostgreSQL."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from core.db import make_engine
from core.migrate import upgrade_database
from core.models import Base
from harness.services import fresh_postgres_database


def _diff(url: str) -> list:
    upgrade_database(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            ctx = MigrationContext.configure(conn, opts={"compare_type": True})
            diff = compare_metadata(ctx, Base.metadata)
            tables = set(inspect(conn).get_table_names())
    finally:
        engine.dispose()
    assert set(Base.metadata.tables) <= tables
    return diff


def test_models_match_migrations_on_sqlite(tmp_path):
    assert _diff(f"sqlite:///{tmp_path / 'm.db'}") == []


def test_models_match_migrations_on_postgres():
    with fresh_postgres_database() as url:
        assert _diff(url.replace("postgresql://", "postgresql+psycopg://")) == []


def test_upgrade_is_idempotent(tmp_path):
    url = f"sqlite:///{tmp_path / 'again.db'}"
    upgrade_database(url)
    upgrade_database(url)
    assert _diff(url) == []
