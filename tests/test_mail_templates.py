"""E-mail templates: merge fields checked at save, bodies sanitised, picker."""

import pytest
from sqlalchemy import select

from crm.mail.models import EmailTemplate
from tests.mail_helpers import COMPOSE, compose, html_of


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url}


def _save(web, **fields):
    data = {"name": "Welcome", "subject": "Hi", "purpose": "one_to_one", "html": ""}
    data.update(fields)
    return web.post("/admin/email_template/new/", data, follow_redirects=True)


def test_an_unknown_merge_field_is_refused_at_save(db, web, login_as):
    login_as("admin")
    page = _save(web, html="<p>{{ contact.shoe_size }}</p>").get_data(as_text=True)
    assert "Unknown merge field: shoe_size" in page
    assert db.session.scalar(select(EmailTemplate)) is None


def test_unknown_tilde_fields_are_refused_too(db, web, login_as):
    login_as("admin")
    page = _save(web, subject="~Contact.Shoe~").get_data(as_text=True)
    assert "Unknown merge field: Shoe" in page
    assert db.session.scalar(select(EmailTemplate)) is None


def test_a_template_is_sanitised_on_save_and_fills_the_compose_form(
    db, web, login_as, make_contact, smtp_server
):
    admin = login_as("admin")
    _save(
        web,
        subject="Welcome ~Contact.FirstName~",
        html="<p>Hi {{ contact.given_name }}</p><script>alert(1)</script>",
    )
    template = db.session.scalar(select(EmailTemplate))
    assert "<script" not in template.html
    jane = make_contact("Jane", "Doe", email="jane@example.com", owner=admin)

    page = web.get(
        COMPOSE, query_string={"contact_id": jane.id, "template_id": template.id}
    ).get_data(as_text=True)
    assert "Welcome ~Contact.FirstName~" in page
    compose(
        web,
        jane,
        subject=template.subject,
        body=template.html,
        template_id=str(template.id),
    )
    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "Welcome Jane"
    assert "Hi Jane" in html_of(received)


def test_users_read_templates_but_only_administrators_change_them(db, web, login_as):
    login_as()
    assert web.get("/admin/email_template/").status_code == 200
    _save(web)
    assert db.session.scalar(select(EmailTemplate)) is None
