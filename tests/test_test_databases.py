"""The test databases: a reused PostgreSQL copy is as the template left it."""

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool


def _run(url, sql):
    engine = create_engine(url, poolclass=NullPool)
    try:
        with engine.begin() as conn:
            result = conn.execute(text(sql))
            return result.scalar() if result.returns_rows else None
    finally:
        engine.dispose()


def test_a_reused_copy_gets_back_the_template_rows_and_sequences(
    engine_url, database_template
):
    if engine_url == "sqlite":
        pytest.skip("SQLite gives each test a new copy of the template file")
    url, release = database_template.new()
    version = _run(url, "SELECT version_num FROM alembic_version")
    first_id = _run(url, "SELECT nextval('contacts_id_seq')")
    _run(url, "DELETE FROM alembic_version")
    _run(url, "INSERT INTO teams (name, created_at) VALUES ('Left behind', now())")
    release()

    held = []
    try:
        while url not in [u for u, _release in held]:
            held.append(database_template.new())
        assert _run(url, "SELECT version_num FROM alembic_version") == version
        assert _run(url, "SELECT count(*) FROM teams") == 0
        assert _run(url, "SELECT nextval('contacts_id_seq')") == first_id
    finally:
        for _url, release_copy in held:
            release_copy()
