"""Faults found reviewing the changes of 4 December, each with its case."""

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact, ContactEmail
from crm.mail import services as mail
from crm.mail import statuses
from crm.webforms.models import Submission
from tests.webform_helpers import make_form, submit


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


def _store_old_address(db, contact, address):
    """A second address written before the stricter e-mail rule existed."""
    db.session.add(
        ContactEmail(contact_id=contact.id, slot=2, address=address, normalized=address)
    )
    db.session.commit()
    db.session.expire_all()


def test_a_web_form_updates_a_contact_whose_other_address_predates_the_rule(
    client, db, make_contact
):
    contact = make_contact(email="jane@example.com")
    _store_old_address(db, contact, "jane@intranet")
    form = make_form(
        db, fields=(("email", {"required": True}), ("family_name", {"overwrite": True}))
    )

    response = submit(client, form, {"email": "jane@example.com", "family_name": "Roe"})

    assert response.status_code == 200, response.get_data(as_text=True)
    db.session.expire_all()
    saved = db.session.get(Contact, contact.id)
    assert saved.family_name == "Roe"
    assert [e.address for e in saved.emails] == ["jane@example.com", "jane@intranet"]
    submission = db.session.scalar(select(Submission))
    assert submission.state == "processed"


def test_the_record_saves_other_changes_beside_an_address_that_predates_the_rule(
    db, make_contact
):
    from crm.contacts import services

    contact = make_contact(email="jane@example.com")
    _store_old_address(db, contact, "jane@intranet")
    contact = db.session.get(Contact, contact.id)

    contact.given_name = "Janet"
    services.prepare(contact)
    db.session.commit()

    assert db.session.get(Contact, contact.id).given_name == "Janet"


def test_a_batch_e_mail_with_a_long_non_ascii_subject_has_no_bare_line_feed(
    db, make_contact, smtp_server
):
    contact = make_contact("Lucía", email="lucia@example.com")
    subject = "Confirmación de su suscripción al boletín de noticias de la primavera"

    results = mail.send_many(
        [
            mail.Outgoing(
                contact_id=contact.id,
                address="lucia@example.com",
                subject=subject,
                html="<p>Gracias</p>",
                purpose=statuses.ONE_TO_ONE,
            )
        ]
    )
    db.session.commit()

    assert [r.state for r in results] == ["sent"]
    (received,) = smtp_server.wait_for(1)
    assert received["Subject"] == subject
    raw = smtp_server.envelopes[-1].content
    assert raw.count(b"\n") == raw.count(b"\r\n")
