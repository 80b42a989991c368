import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from tests.record_helpers import open_form, save, sign_in

NEW = "/admin/contact_general/new/"


@pytest.fixture
def user(web, db):
    return sign_in(web, db)


def _count(db):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Contact))


def test_create_on_the_list_leads_to_the_general_form(web, user):
    response = web.get("/admin/contact/new/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(NEW)

    page = web.get(NEW).get_data(as_text=True)
    assert "New contact" in page
    fields = open_form(web, NEW)
    for name in ("given_name", "emails-0-address", "phones-0-number"):
        assert name in fields


def test_creating_a_contact_opens_its_new_record(web, db, user):
    response = save(
        web,
        NEW,
        open_form(web, NEW),
        given_name="Nia",
        family_name="Long",
        company_name="Initech",
        **{
            "emails-0-address": " Nia@Example.COM ",
            "phones-0-number": "+1 202 555 0133",
        },
    )
    page = response.get_data(as_text=True)
    assert "Contact created." in page
    assert "Record was successfully created." not in page

    contact = db.session.scalar(select(Contact).where(Contact.given_name == "Nia"))
    assert response.request.path == "/admin/contact/details/"
    assert response.request.args["id"] == str(contact.id)
    assert contact.primary_email == "Nia@Example.COM"
    assert contact.emails[0].normalized == "nia@example.com"
    assert contact.phones[0].e164 == "+12025550133"
    assert contact.company.name == "Initech"
    assert contact.owner_id == user.id
    assert contact.created_by_id == user.id
    assert contact.source_type == "MANUAL"


def test_a_new_contact_needs_an_email_phone_or_address(web, db, user):
    response = save(web, NEW, open_form(web, NEW), given_name="Nobody")
    page = response.get_data(as_text=True)
    assert "needs an e-mail address, a phone number or an address" in page
    assert 'value="Nobody"' in page
    assert _count(db) == 0


def test_an_address_alone_is_enough_for_a_new_contact(web, db, user):
    save(
        web,
        NEW,
        open_form(web, NEW),
        family_name="Place",
        **{
            "billing_addresses-0-locality": "Lyon",
            "billing_addresses-0-country_code": "FRA",
        },
    )
    contact = db.session.scalar(select(Contact))
    assert contact.family_name == "Place"
    assert contact.billing_address.locality == "Lyon"
    assert contact.country_code == "FRA"


def test_a_bad_email_on_create_is_explained_and_nothing_is_written(web, db, user):
    response = save(
        web,
        NEW,
        open_form(web, NEW),
        given_name="Bad",
        **{"emails-0-address": "bad@@example.com"},
    )
    assert "is not an e-mail address" in response.get_data(as_text=True)
    assert _count(db) == 0
