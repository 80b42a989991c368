"""Faults found reviewing the changes of 4 December, each with its case."""

from sqlalchemy import select

from crm.contacts.models import Contact, ContactEmail
from crm.webforms.models import Submission
from tests.webform_helpers import make_form, submit


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

    response = submit(
        client, form, {"email": "jane@example.com", "family_name": "Roe"}
    )

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
