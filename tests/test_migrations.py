"""The migrations are the schema's source of truth, on every engine."""

from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade
from sqlalchemy import inspect, text

from crm.extensions import db


def _script(app):
    return ScriptDirectory.from_config(app.extensions["migrate"].migrate.get_config())


def test_history_has_one_head(app):
    assert len(_script(app).get_heads()) == 1


def test_models_match_the_migrated_schema(app):
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        differences = compare_metadata(context, db.metadata)
    # The search index objects live outside the models on purpose.
    differences = [d for d in differences if "search" not in str(d)]
    assert differences == []


def test_downgrade_to_base_and_upgrade_again(app):
    downgrade(revision="base")
    tables = set(inspect(db.engine).get_table_names())
    assert tables <= {"alembic_version"}

    upgrade(revision="heads")
    tables = set(inspect(db.engine).get_table_names())
    assert {"contacts", "contact_emails", "tags", "users"} <= tables
    with db.engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version"))
        assert [row[0] for row in version] == [_script(app).get_current_head()]
