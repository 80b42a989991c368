"""Failure kind F4: script in names and notes renders as inert text everywhere."""

import pytest
from sqlalchemy import update

from crm.contacts.models import Contact
from tests.record_helpers import edit, edit_url, record_url, sign_in

NAME = "<body onload=alert(1)>"
NOTE = '<img src=x onerror=alert(1)> <a href="javascript:alert(1)">x</a>'


@pytest.fixture
def hostile(web, db, make_contact):
    user = sign_in(web, db)
    contact = make_contact(
        NAME,
        "Doe",
        email="jane@example.com",
        owner=user,
        person_notes=NOTE,
        job_title="<script>alert(2)</script>",
        company="<i>Evil</i> Corp",
    )
    # The record refuses such a website now; one stored before (or by an
    # import) must still show as inert text.
    db.session.execute(
        update(Contact)
        .where(Contact.id == contact.id)
        .values(website="javascript:alert(3)", version=Contact.version + 1)
    )
    db.session.commit()
    edit(
        web,
        "additional",
        contact.id,
        social_accounts__0__type="TWITTER",
        social_accounts__0__name="<svg onload=alert(4)>",
    )
    return contact


def _assert_inert(page):
    for raw in (
        "<body onload",
        "<img src=x",
        "<script>alert",
        "<svg onload",
        "<i>Evil</i>",
        'href="javascript:alert',
    ):
        assert raw not in page


@pytest.mark.parametrize(
    "url",
    [
        lambda c: "/admin/contact/",
        lambda c: record_url(c.id, "general"),
        lambda c: record_url(c.id, "additional"),
        lambda c: record_url(c.id, "notes"),
        lambda c: edit_url("general", c.id),
        lambda c: edit_url("additional", c.id),
        lambda c: edit_url("notes", c.id),
    ],
    ids=[
        "list",
        "general",
        "additional",
        "notes",
        "edit",
        "edit-additional",
        "edit-notes",
    ],
)
def test_script_in_user_text_renders_inert(web, hostile, url):
    response = web.get(url(hostile))
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    _assert_inert(page)
    assert "&lt;body onload=alert(1)&gt;" in page


def test_notes_and_social_names_show_as_text(web, hostile):
    notes = web.get(record_url(hostile.id, "notes")).get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;" in notes
    social = web.get(record_url(hostile.id, "additional")).get_data(as_text=True)
    assert "&lt;svg onload=alert(4)&gt;" in social


def test_a_script_website_is_shown_but_not_linked(web, hostile):
    page = web.get(record_url(hostile.id)).get_data(as_text=True)
    assert "javascript:alert(3)" in page
    assert 'href="javascript:alert' not in page


def test_the_weather_fragment_escapes_the_city(web, db, make_contact, app):
    from crm.contacts import weather

    class Echo:
        def get(self, address):
            return None

    weather.install_provider(app, Echo())
    user = sign_in(web, db, "w@example.com")
    contact = make_contact("A", "B", email="a@example.com", owner=user)
    edit(web, "general", contact.id, billing_addresses__0__locality="<b>X</b>")
    page = web.get(f"/admin/contact/weather/?id={contact.id}").get_data(as_text=True)
    assert "No weather found for &lt;b&gt;X&lt;/b&gt;." in page
