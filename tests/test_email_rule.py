"""One e-mail rule for every way an address comes in (public forms, the record,
imports, users): the domain must be a real domain name; no DNS lookup."""

import pytest
from sqlalchemy import func, select

from crm.activity.models import ActivityEvent
from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.mail.models import Message
from crm.webforms.models import Submission
from tests.webform_helpers import make_form, submit


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        ("a@b", True),
        ("x@localhost", True),
        ("x@[127.0.0.1]", True),
        ("bad@@example.com", True),
        ("jane@example.com", False),
        ("jane@example.invalid", False),
        ("jane@mail.local", False),
        ("josé@exämple.es", False),
    ],
)
def test_email_problem_refuses_domains_that_are_no_domain_names(app, address, refused):
    from crm.core.text import email_problem

    assert bool(email_problem(address)) is refused


def test_the_public_form_refuses_a_b_and_writes_and_sends_nothing(client, db):
    form = make_form(db)
    before = tuple(count(db, m) for m in (Contact, Submission, ActivityEvent, Message))

    response = submit(client, form, {"email": "a@b", "given_name": "Al"})

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not an e-mail address" in page and "period" in page
    after = tuple(count(db, m) for m in (Contact, Submission, ActivityEvent, Message))
    assert after == before


def test_the_record_refuses_a_new_dotless_address(db, make_contact):
    from crm.contacts import services

    contact = make_contact(email="jane@example.com")
    contact.emails[0].address = "jane@intranet"

    with pytest.raises(ServiceError, match="is not an e-mail address"):
        services.validate(contact)
    db.session.rollback()
