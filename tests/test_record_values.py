"""Values typed on the General and Additional info tabs: what is refused, what is
kept with a warning and what is rewritten (phones, website, e-mails, company,
dates, notes, social accounts)."""

import html
from datetime import date

import pytest
from sqlalchemy import select, update

from crm.contacts.models import Company, Contact, ContactPhone, SocialAccount
from tests.record_helpers import edit, reload, sign_in

UNREAD = "{} could not be read as a phone number; it was kept as typed."


@pytest.fixture
def user(web, db):
    return sign_in(web, db, name="Uma User")


@pytest.fixture
def jane(make_contact, user):
    return make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 212 555 0199", owner=user
    )


def page_of(response) -> str:
    """The page's text, entities read (quotes in messages come escaped)."""
    return html.unescape(response.get_data(as_text=True))


def phone_of(db, contact_id, kind="phone") -> ContactPhone:
    contact = reload(db, Contact, contact_id)
    return (contact.phones if kind == "phone" else contact.faxes)[0]


# Phones


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "phones__0__number",
            "call me maybe",
            "Phone 1: 'call me maybe' has no digits",
        ),
        ("faxes__0__number", "no fax", "Fax 1: 'no fax' has no digits"),
    ],
)
def test_a_number_without_digits_is_refused(web, db, jane, field, value, message):
    page = page_of(edit(web, "general", jane.id, **{field: value}))
    assert f"{message}; type a phone number." in page
    assert "Contact saved." not in page
    contact = reload(db, Contact, jane.id)
    assert [p.number for p in contact.phones] == ["+1 212 555 0199"]
    assert contact.faxes == []


def test_an_assistant_phone_without_digits_is_refused(web, db, jane):
    page = page_of(edit(web, "additional", jane.id, assistant_phone="ask Bob"))
    assert "Assistant phone: 'ask Bob' has no digits; type a phone number." in page
    assert reload(db, Contact, jane.id).assistant_phone is None


@pytest.mark.parametrize("typed", ["x12", "ext. 12", "#12", ";ext=12", " x 12 "])
@pytest.mark.parametrize(
    ("field", "tab", "label"),
    [
        ("phones__0__number", "general", "Phone 1"),
        ("faxes__0__number", "general", "Fax 1"),
        ("assistant_phone", "additional", "Assistant phone"),
    ],
)
def test_a_number_that_is_only_an_extension_is_refused(
    web, db, jane, field, tab, label, typed
):
    page = page_of(edit(web, tab, jane.id, **{field: typed}))
    assert (
        f"{label}: {typed.strip()!r} is an extension without a number; type the "
        "phone number before it."
    ) in page
    assert "Contact saved." not in page
    contact = reload(db, Contact, jane.id)
    assert [p.number for p in contact.phones] == ["+1 212 555 0199"]
    assert (contact.faxes, contact.assistant_phone) == ([], None)


def test_an_extension_without_a_number_is_refused_in_spanish(web, db, user, jane):
    user.locale = "es"
    db.session.commit()
    page = page_of(edit(web, "general", jane.id, phones__0__number="x12"))
    assert "'x12' es solo una extensión, sin número" in page


@pytest.mark.parametrize("number", ["12", "0261 8500000"])
def test_an_unreadable_number_is_kept_as_typed_with_a_warning(web, db, jane, number):
    page = page_of(edit(web, "general", jane.id, phones__0__number=number))
    assert "Contact saved." in page
    assert UNREAD.format(number) in page
    phone = phone_of(db, jane.id)
    assert (phone.number, phone.e164) == (number, None)


def test_an_unreadable_assistant_phone_is_kept_with_a_warning(web, db, jane):
    page = page_of(edit(web, "additional", jane.id, assistant_phone="12"))
    assert "Contact saved." in page and UNREAD.format("12") in page
    assert reload(db, Contact, jane.id).assistant_phone == "12"


def test_a_readable_number_saves_without_a_warning(web, db, jane):
    page = page_of(edit(web, "general", jane.id, phones__0__number="+44 20 7946 0000"))
    assert "Contact saved." in page
    assert "could not be read" not in page
    assert phone_of(db, jane.id).e164 == "+442079460000"


def test_a_number_saved_earlier_is_not_checked_again(web, db, jane):
    db.session.execute(
        update(ContactPhone)
        .where(ContactPhone.contact_id == jane.id)
        .values(number="ask reception", e164=None)
    )
    db.session.commit()

    page = page_of(edit(web, "general", jane.id, job_title="Buyer"))
    assert "Contact saved." in page
    assert "could not be read" not in page
    assert phone_of(db, jane.id).number == "ask reception"


@pytest.mark.parametrize(
    "typed",
    [
        "+1 212 555 0100 x12",
        "+1 212 555 0100 ext. 12",
        "+1 212 555 0100 ext 12",
        "+1 212 555 0100 #12",
    ],
)
@pytest.mark.parametrize("extension", ["", "12"])
def test_an_extension_typed_with_the_number_moves_to_its_field(
    web, db, jane, typed, extension
):
    page = page_of(
        edit(
            web,
            "general",
            jane.id,
            phones__0__number=typed,
            phones__0__extension=extension,
        )
    )
    assert "Contact saved." in page
    phone = phone_of(db, jane.id)
    assert (phone.number, phone.extension, phone.e164) == (
        "+1 212 555 0100",
        "12",
        "+12125550100",
    )


def test_two_different_extensions_are_refused(web, db, jane):
    page = page_of(
        edit(
            web,
            "general",
            jane.id,
            phones__0__number="(212) 555-0100 x12",
            phones__0__extension="7",
        )
    )
    assert (
        "Phone 1: the number ends in extension 12 but the extension field says 7; "
        "keep one of them."
    ) in page
    assert phone_of(db, jane.id).number == "+1 212 555 0199"


def test_a_fax_with_an_extension_is_refused(web, db, jane):
    page = page_of(
        edit(web, "general", jane.id, faxes__0__number="+1 212 555 0198 x77")
    )
    assert "Fax 1 has no extension; type the number without the extension 77." in page
    assert reload(db, Contact, jane.id).faxes == []


def test_an_assistant_phone_with_an_extension_is_refused(web, db, jane):
    page = page_of(edit(web, "additional", jane.id, assistant_phone="555 0100 x2"))
    assert (
        "Assistant phone has no extension; type the number without the extension 2."
        in page
    )
    assert reload(db, Contact, jane.id).assistant_phone is None


# Website


@pytest.mark.parametrize(
    "typed",
    [
        "javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "not a url at all",
        "mailto:jane@example.com",
        "ftp://example.com/file",
        "localhost",
    ],
)
def test_a_website_that_is_no_web_address_is_refused(web, db, jane, typed):
    page = page_of(edit(web, "general", jane.id, website=typed))
    assert "is not a web address; enter one such as https://example.com." in page
    assert "Contact saved." not in page
    assert reload(db, Contact, jane.id).website is None


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("example.com", "https://example.com"),
        ("www.example.com/shop", "https://www.example.com/shop"),
        ("http://example.org/a?b=1", "http://example.org/a?b=1"),
    ],
)
def test_a_website_is_stored_as_an_http_address(web, db, jane, typed, stored):
    page = page_of(edit(web, "general", jane.id, website=typed))
    assert "Contact saved." in page
    assert reload(db, Contact, jane.id).website == stored


def test_a_website_too_long_once_https_is_added_is_refused(web, db, jane):
    typed = "a" * 84 + ".example.com"  # 96 characters, 104 with https://
    page = page_of(edit(web, "general", jane.id, website=typed))
    assert "is longer than 100 characters." in page
    assert reload(db, Contact, jane.id).website is None


# E-mail addresses and company


def test_one_address_in_two_slots_is_refused_naming_the_slot(web, db, jane):
    page = page_of(
        edit(
            web,
            "general",
            jane.id,
            emails__0__address="Same@Example.org",
            emails__1__address=" same@example.org",
        )
    )
    assert (
        "E-mail address 2, same@example.org, is already e-mail address 1 of this "
        "contact; remove one of them."
    ) in page
    emails = reload(db, Contact, jane.id).emails
    assert [e.address for e in emails] == ["jane@example.com"]


def test_company_names_differing_in_case_and_spaces_are_one_company(
    web, db, jane, make_contact, user
):
    other = make_contact("Otto", "Other", email="otto@example.com", owner=user)
    for contact, name in [
        (jane, "Acme Widgets"),
        (other, "ACME WIDGETS"),
        (jane, "acme  widgets"),
    ]:
        assert "Contact saved." in page_of(
            edit(web, "general", contact.id, company_name=name)
        )

    names = db.session.scalars(select(Company.name)).all()
    assert names == ["Acme Widgets"]
    companies = {reload(db, Contact, c.id).company_id for c in (jane, other)}
    assert len(companies) == 1


# Dates, notes, social accounts


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("birthday", "2999-01-01", "The birthday 2999-01-01 lies in the future."),
        ("birthday", "0001-01-01", "Birthday: 0001-01-01 is before 1900"),
        ("birthday", "1899-12-31", "Birthday: 1899-12-31 is before 1900"),
        ("anniversary", "1850-06-01", "Anniversary: 1850-06-01 is before 1900"),
        (
            "anniversary",
            f"{date.today().year + 2}-01-01",
            f"The anniversary {date.today().year + 2}-01-01 is after next year",
        ),
    ],
)
def test_a_date_out_of_range_is_refused(web, db, jane, field, value, message):
    page = page_of(edit(web, "additional", jane.id, **{field: value}))
    assert message in page
    assert "Contact saved." not in page
    assert getattr(reload(db, Contact, jane.id), field) is None


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("birthday", date.today().isoformat()),
        ("birthday", "1900-01-01"),
        ("anniversary", f"{date.today().year + 1}-12-31"),
    ],
)
def test_a_date_in_range_is_saved(web, db, jane, field, value):
    page = page_of(edit(web, "additional", jane.id, **{field: value}))
    assert "Contact saved." in page
    assert getattr(reload(db, Contact, jane.id), field).isoformat() == value


def test_person_notes_over_64_kb_are_refused(web, db, jane):
    page = page_of(edit(web, "notes", jane.id, person_notes="x" * 65_536))
    assert (
        "The person notes are 65,536 characters long; they may have at most 65,535."
        in page
    )
    assert reload(db, Contact, jane.id).person_notes is None

    page = page_of(edit(web, "notes", jane.id, person_notes="x" * 65_535))
    assert "Contact saved." in page
    assert len(reload(db, Contact, jane.id).person_notes) == 65_535


def test_person_notes_count_a_browsers_line_break_as_one_character(web, db, jane):
    # 21,845 lines of "ab": 65,535 characters with LF breaks, 87,380 with CRLF.
    typed = "ab\r\n" * 21_845
    page = page_of(edit(web, "notes", jane.id, person_notes=typed))
    assert "Contact saved." in page
    notes = reload(db, Contact, jane.id).person_notes
    assert "\r" not in notes
    assert notes == typed.replace("\r\n", "\n") and len(notes) == 65_535

    # Opened again and saved as a browser posts it: the same notes.
    page = page_of(edit(web, "notes", jane.id))
    assert "Contact saved." in page
    assert reload(db, Contact, jane.id).person_notes == notes


def test_the_notes_limit_is_written_in_the_readers_language(web, db, user, jane):
    user.locale = "es"
    db.session.commit()
    page = page_of(edit(web, "notes", jane.id, person_notes="x" * 70_000))
    assert "70.000" in page and "65.535" in page
    assert "70,000" not in page
    assert reload(db, Contact, jane.id).person_notes is None


def test_a_second_account_on_one_network_is_refused(web, db, jane):
    page = page_of(
        edit(
            web,
            "additional",
            jane.id,
            social_accounts__0__type="TWITTER",
            social_accounts__0__name="one",
            social_accounts__1__type="TWITTER",
            social_accounts__1__name="two",
        )
    )
    assert "A contact has one X (Twitter) account; remove the second one." in page
    assert db.session.scalars(select(SocialAccount)).all() == []

    page = page_of(
        edit(
            web,
            "additional",
            jane.id,
            social_accounts__0__type="TWITTER",
            social_accounts__0__name="one",
            social_accounts__1__type="FACEBOOK",
            social_accounts__1__name="one",
        )
    )
    assert "Contact saved." in page
    networks = {a.type for a in reload(db, Contact, jane.id).social_accounts}
    assert networks == {"TWITTER", "FACEBOOK"}


def test_companies_are_matched_by_lower_case_not_casefold():
    from crm.contacts.services import company_key

    # Two surnames, one company; capital and small dotted i.
    assert company_key("Buße GmbH") != company_key("Busse GmbH")
    assert company_key("İstanbul Halı") == company_key("istanbul Halı")
    assert company_key("İSTANBUL") == company_key("istanbul")
    assert company_key("  ACME   Widgets ") == company_key("acme widgets")
    assert company_key(None) == company_key("  ") == ""
