"""Phones read as typed; bare digits read formatted from their E.164 form."""

import pytest

from crm.contacts import services
from crm.contacts.models import ContactPhone
from crm.core.text import format_phone


@pytest.mark.parametrize(
    "number, e164, region, shown",
    [
        ("5987002803", "+15987002803", "US", "(598) 700-2803"),
        ("415.555.0101", "+14155550101", "US", "415.555.0101"),
        ("0142685300", "+33142685300", "US", "+33 1 42 68 53 00"),
        ("+33142685300", "+33142685300", "FR", "01 42 68 53 00"),
        ("01 42 68 53 00", "+33142685300", "US", "01 42 68 53 00"),
        ("+1 555 0100", None, "US", "+1 555 0100"),
        ("call the desk", None, "US", "call the desk"),
    ],
)
def test_phone_is_formatted_from_e164(number, e164, region, shown):
    assert format_phone(number, e164, region) == shown


def test_list_shows_the_first_phone_formatted(web, login_as, make_contact):
    login_as("user")
    make_contact("Patricia", "Ryan", phone="5987002803")
    make_contact("Typed", "Asis", phone="ext. desk 12")

    page = web.get("/admin/contact/").get_data(as_text=True)

    assert "(598) 700-2803" in page
    assert "5987002803" not in page
    assert "ext. desk 12" in page


def test_record_shows_phones_and_faxes_formatted(web, db, login_as, make_contact):
    login_as("user")
    contact = make_contact("Patricia", "Ryan", phone="5987002803")
    contact.phones.append(ContactPhone(number="+33 1 42 68 53 00", slot=2))
    contact.faxes.append(ContactPhone(number="512 179 9009", kind="fax", slot=1))
    services.prepare(contact, None)
    db.session.commit()

    page = web.get(f"/admin/contact/details/?id={contact.id}").get_data(as_text=True)

    assert "(598) 700-2803" in page
    assert "+33 1 42 68 53 00" in page
    assert "512 179 9009" in page  # laid out by whoever typed it: as typed
    assert 'title="+15987002803"' in page
