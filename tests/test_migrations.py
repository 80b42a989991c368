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


def test_search_text_migration_gives_e164_numbers_their_plus(app, make_contact):
    contact = make_contact("Lucía", "Fernández", phone="+34 918 813 998")
    other = make_contact("Jane", "Doe", phone="+1 212 555 0134")
    plain = make_contact("No", "Phone")
    db.session.commit()
    ids = (contact.id, other.id, plain.id)

    def texts():
        db.session.remove()
        rows = db.session.execute(
            text("SELECT id, search_text FROM contacts WHERE id IN (:a, :b, :c)"),
            dict(zip("abc", ids, strict=True)),
        )
        return dict(rows.all())

    migrated = texts()
    assert "+34918813998" in migrated[contact.id].split(" ")
    revision = _script(app).get_revision("0020_search_plus")

    downgrade(revision=revision.down_revision)
    before = texts()
    assert "+34918813998" not in before[contact.id].split(" ")
    assert "34918813998" in before[contact.id].split(" ")
    assert before[plain.id] == migrated[plain.id]

    upgrade(revision="heads")
    after = texts()
    # Every token that was an E.164 number without its plus has it again.
    assert after[contact.id] == before[contact.id].replace(
        " 34918813998", " +34918813998"
    )
    assert after[other.id] == before[other.id].replace(" 12125550134", " +12125550134")
    assert after[plain.id] == before[plain.id]


def test_tag_applied_via_migration_keeps_the_tag_links(app, make_contact):
    from crm.tags import services as tags

    contact = make_contact("Jane", "Doe")
    tags.apply_tag(contact, tags.get_or_create_tag("Nurtured"), via="sequence:7")
    db.session.commit()
    revision = _script(app).get_revision("0021_tag_applied_via")

    def rows():
        db.session.remove()
        columns = {c["name"] for c in inspect(db.engine).get_columns("contact_tags")}
        kept = db.session.execute(text("SELECT contact_id, tag_id FROM contact_tags"))
        kept = kept.all()
        # No read may hold the table while a migration alters it (PostgreSQL).
        db.session.remove()
        return "applied_via" in columns, kept

    downgrade(revision=revision.down_revision)
    has_column, before = rows()
    assert not has_column and len(before) == 1

    upgrade(revision="heads")
    has_column, after = rows()
    assert has_column and after == before
    assert db.session.scalar(text("SELECT applied_via FROM contact_tags")) is None
