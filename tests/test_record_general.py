import pytest
from sqlalchemy import func, select

from crm.contacts.models import Company, Contact, ContactEmail, ContactPhone
from tests.record_helpers import (
    edit,
    edit_url,
    open_form,
    record_url,
    reload,
    save,
    sign_in,
)


@pytest.fixture
def user(web, db):
    return sign_in(web, db, name="Uma User")


@pytest.fixture
def jane(make_contact, user):
    return make_contact(
        "Jane",
        "Doe",
        email="jane@example.com",
        phone="+1 555 0100",
        country="USA",
        company="Acme Inc",
        owner=user,
    )


def test_general_tab_shows_the_values_read_only_with_an_edit_button(web, jane):
    page = web.get(record_url(jane.id)).get_data(as_text=True)
    assert 'id="full-name">Jane Doe<' in page
    assert 'id="company">Acme Inc<' in page
    assert "jane@example.com" in page
    assert "+1 555 0100" in page
    assert "Uma User" in page
    assert f'href="/admin/contact_general/edit/?id={jane.id}"' in page
    assert "<input" not in page.split('id="tab-content"')[1]


def test_saving_general_returns_to_the_record_tab_with_a_message(web, db, jane):
    opened_at = jane.version
    response = edit(
        web,
        "general",
        jane.id,
        prefix="Dr.",
        given_name="Janet",
        job_title="Buyer",
        website="acme.example",
        time_zone="Europe/Berlin",
        preferred_locale="de",
        contact_type="Customer",
    )
    page = response.get_data(as_text=True)
    assert response.request.path == "/admin/contact/details/"
    assert response.request.args["tab"] == "general"
    assert "Contact saved." in page
    assert "Record was successfully saved." not in page

    contact = reload(db, Contact, jane.id)
    assert (contact.prefix, contact.given_name, contact.job_title) == (
        "Dr.",
        "Janet",
        "Buyer",
    )
    assert contact.time_zone == "Europe/Berlin"
    assert contact.preferred_locale == "de"
    assert contact.contact_type == "Customer"
    assert contact.version > opened_at


def test_phone_is_stored_raw_with_its_e164_form(web, db, jane):
    edit(
        web,
        "general",
        jane.id,
        phones__0__number="(202) 555-0142",
        phones__0__extension="12",
        phones__0__type="Work",
    )
    phone = reload(db, Contact, jane.id).phones[0]
    assert phone.number == "(202) 555-0142"
    assert phone.e164 == "+12025550142"
    assert (phone.extension, phone.type) == ("12", "Work")
    page = web.get(record_url(jane.id)).get_data(as_text=True)
    assert "(202) 555-0142" in page and 'title="+12025550142"' in page


def test_adding_an_email_row_and_removing_the_first_keeps_slots_in_order(web, db, jane):
    url = edit_url("general", jane.id)
    edit(web, "general", jane.id, emails__1__address="second@example.com")
    contact = reload(db, Contact, jane.id)
    assert [(e.slot, e.address) for e in contact.emails] == [
        (1, "jane@example.com"),
        (2, "second@example.com"),
    ]

    response = save(web, url, open_form(web, url), **{"del-emails-0": "y"})
    assert "Contact saved." in response.get_data(as_text=True)
    contact = reload(db, Contact, jane.id)
    assert [(e.slot, e.address) for e in contact.emails] == [(1, "second@example.com")]
    assert contact.primary_email == "second@example.com"


def test_removing_one_email_and_adding_another_in_one_save(web, db, jane):
    url = edit_url("general", jane.id)
    response = save(
        web,
        url,
        open_form(web, url),
        **{"del-emails-0": "y", "emails-1-address": "new@example.com"},
    )
    assert "Contact saved." in response.get_data(as_text=True)
    emails = reload(db, Contact, jane.id).emails
    assert [(e.slot, e.address) for e in emails] == [(1, "new@example.com")]


def test_clearing_a_row_removes_it_and_blank_new_rows_are_ignored(web, db, jane):
    edit(
        web,
        "general",
        jane.id,
        phones__0__number="",
        phones__1__number="",
        emails__1__address="   ",
    )
    contact = reload(db, Contact, jane.id)
    assert contact.phones == []
    assert [e.address for e in contact.emails] == ["jane@example.com"]
    assert contact.primary_phone is None


def test_a_row_with_only_an_extension_asks_for_the_number(web, db, jane):
    response = edit(
        web, "general", jane.id, phones__0__number="", phones__0__extension="7"
    )
    page = response.get_data(as_text=True)
    assert "Fill this in or remove the row." in page
    assert reload(db, Contact, jane.id).phones[0].number == "+1 555 0100"


@pytest.mark.parametrize(
    ("prefix", "key", "count", "message"),
    [
        ("emails", "address", 4, "at most 3 e-mail addresses"),
        ("phones", "number", 6, "at most 5 phone numbers"),
        ("faxes", "number", 3, "at most 2 fax numbers"),
    ],
)
def test_slot_limits_are_enforced_and_nothing_is_saved(
    web, db, jane, prefix, key, count, message
):
    rows = {
        f"{prefix}-{i}-{key}": f"x{i}@example.com"
        if key == "address"
        else f"555 01{i}0"
        for i in range(count)
    }
    response = edit(web, "general", jane.id, given_name="Changed", **rows)
    assert message in response.get_data(as_text=True)
    contact = reload(db, Contact, jane.id)
    assert contact.given_name == "Jane"
    assert len(contact.emails) == 1 and len(contact.phones) == 1
    assert contact.faxes == []


def test_faxes_are_kept_apart_from_phones(web, db, jane):
    edit(web, "general", jane.id, faxes__0__number="+1 555 0199", faxes__0__type="Work")
    contact = reload(db, Contact, jane.id)
    assert [f.number for f in contact.faxes] == ["+1 555 0199"]
    assert [p.number for p in contact.phones] == ["+1 555 0100"]
    assert contact.faxes[0].kind == "fax" and contact.faxes[0].slot == 1


def test_typing_a_new_company_creates_it_and_a_known_one_is_reused(web, db, jane):
    edit(web, "general", jane.id, company_name="Globex")
    contact = reload(db, Contact, jane.id)
    assert contact.company.name == "Globex"
    assert "globex" in contact.search_text

    edit(web, "general", jane.id, company_name="Acme Inc")
    assert reload(db, Contact, jane.id).company.name == "Acme Inc"
    assert db.session.scalar(select(func.count()).select_from(Company)) == 2

    edit(web, "general", jane.id, company_name="")
    assert reload(db, Contact, jane.id).company is None


def test_company_suggestions_match_typed_text(web, make_contact, jane):
    make_contact("Bob", "Roe", email="bob@example.com", company="Acme Rockets")
    make_contact("Cy", "Poe", email="cy@example.com", company="Initech")
    names = web.get("/admin/contact_general/companies/?q=acme").get_json()["names"]
    assert names == ["Acme Inc", "Acme Rockets"]
    percent = web.get("/admin/contact_general/companies/?q=%25").get_json()
    assert percent["names"] == []


def test_owner_is_picked_through_the_secured_lookup(web, db, jane, make_user):
    other = make_user("olga@example.com", name="Olga Owner")
    lookup = web.get("/admin/contact_general/ajax/lookup/?name=owner&query=olga")
    assert lookup.status_code == 200
    assert [row[0] for row in lookup.get_json()] == [other.id]

    edit(web, "general", jane.id, owner=str(other.id))
    assert reload(db, Contact, jane.id).owner_id == other.id


def test_a_value_outside_the_pick_list_is_refused(web, db, jane):
    response = edit(web, "general", jane.id, prefix="Emperor", time_zone="Mars/Base")
    page = response.get_data(as_text=True)
    assert page.count("Choose a value from the list.") == 2
    contact = reload(db, Contact, jane.id)
    assert contact.prefix is None and contact.time_zone is None


def test_a_stored_value_no_longer_listed_stays_selectable(web, db, user, make_contact):
    contact = make_contact("Ann", "Lee", email="ann@example.com", prefix="Sir")
    edit(web, "general", contact.id, given_name="Anne")
    contact = reload(db, Contact, contact.id)
    assert (contact.prefix, contact.given_name) == ("Sir", "Anne")


def test_envelope_opens_the_users_mail_client_for_the_primary_address(
    web, user, make_contact
):
    contact = make_contact("Al", "Bo", email="al?cc=boss@example.com")
    page = web.get(record_url(contact.id)).get_data(as_text=True)
    assert 'href="mailto:al%3Fcc%3Dboss@example.com"' in page


def test_edit_form_opens_with_the_current_values(web, jane):
    fields = open_form(web, edit_url("general", jane.id))
    assert fields["given_name"] == "Jane"
    assert fields["company_name"] == "Acme Inc"
    assert fields["emails-0-address"] == "jane@example.com"
    assert fields["billing_addresses-0-country_code"] == "USA"
    assert fields["version"] == str(jane.version)


def test_search_finds_a_phone_added_on_the_tab(web, db, jane):
    edit(web, "general", jane.id, phones__1__number="+49 30 1234567")
    page = web.get("/admin/contact/?search=301234567").get_data(as_text=True)
    assert "Jane Doe" in page
    assert (
        db.session.scalar(
            select(func.count())
            .select_from(ContactPhone)
            .where(ContactPhone.kind == "phone")
        )
        == 2
    )
    assert db.session.scalar(select(func.count()).select_from(ContactEmail)) == 1
