"""A save that meets SQLite's one writer busy for too long (an import or a
dry run holds it) says so and saves nothing."""

import sqlite3

import pytest
from sqlalchemy.engine import make_url

from crm.contacts.models import Contact
from tests.record_helpers import edit_url, open_form, reload, save, sign_in


@pytest.fixture
def app_config(app_config):
    return {**app_config, "SQLITE_BUSY_SECONDS": 0.2}


def test_a_save_while_the_database_is_locked_says_so_and_saves_nothing(
    app, db, web, make_contact
):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    user = sign_in(web, db)
    jane = make_contact("Jane", "Doe", owner=user)
    url = edit_url("general", jane.id)
    fields = open_form(web, url)

    holder = sqlite3.connect(make_url(app.config["DATABASE_URL"]).database)
    holder.execute("BEGIN IMMEDIATE")  # as a running import's transaction does
    try:
        page = save(web, url, fields, family_name="Locked").get_data(as_text=True)
    finally:
        holder.rollback()
        holder.close()

    assert "The database is busy with another change" in page
    assert "nothing was saved" in page
    assert reload(db, Contact, jane.id).family_name == "Doe"
    # Once the writer is gone, the same form saves.
    save(web, url, fields, family_name="Free")
    assert reload(db, Contact, jane.id).family_name == "Free"


def test_any_other_write_while_locked_gets_the_busy_page(app, db, web, make_contact):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL has no database-wide write lock")
    from crm.tags.models import ContactTag, Tag

    user = sign_in(web, db)
    jane = make_contact("Jane", "Doe", owner=user)
    vip = Tag(name="VIP")
    db.session.add(vip)
    db.session.commit()

    holder = sqlite3.connect(make_url(app.config["DATABASE_URL"]).database)
    holder.execute("BEGIN IMMEDIATE")
    try:
        response = web.post(f"/admin/tags-of/{jane.id}/apply", {"tag_id": str(vip.id)})
    finally:
        holder.rollback()
        holder.close()

    assert response.status_code == 503
    assert "The database is busy with another change" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.query(ContactTag).count() == 0
