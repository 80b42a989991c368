"""The record's pick-lists (phone and fax types, titles, suffixes, the list's
country filter) read in the reader's language; the stored value stays English."""

import html
import re

import pytest
import vobject

from crm.contacts import services
from crm.contacts.models import Contact, ContactPhone
from tests.record_helpers import edit, edit_url, record_url, reload
from tests.test_export import csv_records, export


def spanish_user(db, login_as):
    user = login_as("user")
    user.locale = "es"
    db.session.commit()
    return user


def page_of(web, url, **kwargs):
    response = web.get(url, **kwargs)
    assert response.status_code == 200
    return html.unescape(response.get_data(as_text=True))


def select_of(page, name):
    found = re.search(rf'<select[^>]*name="{name}"[^>]*>(.*?)</select>', page, re.S)
    assert found, f"no select {name}"
    return found[1]


def add_lines(db, contact, *lines):
    """Add (kind, number, type) rows, stamped as a save would stamp them."""
    for kind, number, kind_of_line in lines:
        rows = contact.faxes if kind == "fax" else contact.phones
        row = ContactPhone(kind=kind, slot=len(rows) + 1, number=number)
        row.type = kind_of_line
        rows.append(row)
    services.prepare(contact, contact.owner)
    db.session.commit()
    return contact


def with_lines(db, make_contact, owner):
    return add_lines(
        db,
        make_contact("Jane", "Doe", owner=owner),
        ("phone", "555 0100", "Mobile"),
        ("phone", "555 0101", "Work"),
        ("fax", "555 0102", "Home"),
    )


def test_spanish_reader_sees_phone_and_fax_types_in_spanish_on_the_form(
    db, web, login_as, make_contact
):
    user = spanish_user(db, login_as)
    jane = with_lines(db, make_contact, user)

    form = page_of(web, edit_url("general", jane.id))

    phone = select_of(form, "phones-0-type")
    assert '<option selected value="Mobile">Móvil</option>' in phone
    for value, label in (("Work", "Trabajo"), ("Home", "Casa"), ("Other", "Otro")):
        assert f'<option value="{value}">{label}</option>' in phone
    assert "Mobile<" not in phone and "Work<" not in phone
    fax = select_of(form, "faxes-0-type")
    assert '<option selected value="Home">Casa</option>' in fax
    assert "Mobile" not in fax  # FAX_TYPES has no mobile line


def test_spanish_reader_sees_phone_types_in_spanish_on_the_record_page(
    db, web, login_as, make_contact
):
    user = spanish_user(db, login_as)
    jane = with_lines(db, make_contact, user)

    general = page_of(web, record_url(jane.id))
    phones = general.split('id="phones"', 1)[1].split("</dd>", 1)[0]
    assert ">Móvil:<" in phones and ">Trabajo:<" in phones
    assert "Mobile" not in phones and "Work:" not in phones
    faxes = general.split('id="faxes"', 1)[1].split("</dd>", 1)[0]
    assert ">Casa:<" in faxes

    additional = page_of(web, record_url(jane.id, "additional"))
    others = additional.split('id="other-phones"', 1)[1].split("</dd>", 1)[0]
    assert ">Trabajo:<" in others and "Work" not in others


def test_english_reader_sees_the_phone_types_as_before(db, web, login_as, make_contact):
    user = login_as("user")
    jane = with_lines(db, make_contact, user)

    general = page_of(web, record_url(jane.id), headers={"Accept-Language": "en"})
    form = page_of(web, edit_url("general", jane.id), headers={"Accept-Language": "en"})

    assert ">Mobile:<" in general and ">Work:<" in general and ">Home:<" in general
    assert '<option selected value="Mobile">Mobile</option>' in form
    assert "Móvil" not in general + form


def test_spanish_reader_sees_titles_and_suffixes_in_spanish(
    db, web, login_as, make_contact
):
    user = spanish_user(db, login_as)
    jane = make_contact("Jane", "Doe", owner=user, prefix="Mrs.", suffix="Jr.")

    form = page_of(web, edit_url("general", jane.id))
    page = page_of(web, record_url(jane.id))

    title = select_of(form, "prefix")
    assert '<option selected value="Mrs.">Sra.</option>' in title
    for value, label in (
        ("Mr.", "Sr."),
        ("Ms.", "Srta."),
        ("Dr.", "Dr."),
        ("Prof.", "Prof."),
    ):
        assert f'<option value="{value}">{label}</option>' in title
    suffix = select_of(form, "suffix")
    assert '<option selected value="Jr.">hijo</option>' in suffix
    assert '<option value="Sr.">padre</option>' in suffix
    assert '<option value="PhD">Ph. D.</option>' in suffix
    assert 'id="full-name">Sra. Jane Doe hijo<' in page

    english = page_of(web, record_url(jane.id), headers={"Accept-Language": "en"})
    assert 'id="full-name">Sra. Jane Doe hijo<' in english  # the user's locale wins
    user.locale = "en"
    db.session.commit()
    english = page_of(web, record_url(jane.id))
    assert 'id="full-name">Mrs. Jane Doe Jr.<' in english


def test_a_spanish_save_stores_the_english_values_and_the_export_keeps_them(
    db, web, login_as, make_contact
):
    user = spanish_user(db, login_as)
    jane = make_contact("Jane", "Doe", owner=user, email="jane@example.com")

    response = edit(
        web,
        "general",
        jane.id,
        prefix="Ms.",
        phones__0__number="+1 202 555 0142",
        phones__0__type="Mobile",
        faxes__0__number="+1 202 555 0143",
        faxes__0__type="Work",
    )

    assert "Contacto guardado." in response.get_data(as_text=True)
    contact = reload(db, Contact, jane.id)
    assert contact.prefix == "Ms."
    assert [(p.kind, p.type) for p in contact.phones + contact.faxes] == [
        ("phone", "Mobile"),
        ("fax", "Work"),
    ]
    (record,) = csv_records(export(web, "csv"))
    assert record["Title"] == "Ms."
    assert record["Phone 1 Type"] == "Mobile"
    assert record["Fax 1 Type"] == "Work"
    (card,) = vobject.readComponents(export(web, "vcf").get_data(as_text=True))
    assert "CELL" in card.tel.params["TYPE"]
    assert "Móvil" not in export(web, "vcf").get_data(as_text=True)


def test_a_value_an_administrator_configured_reads_as_stored(
    app, db, web, login_as, make_contact
):
    app.config["PHONE_TYPES"] = ["Work", "Pager"]
    app.config["TITLE_TYPES"] = ["Mr.", "Mx."]
    user = spanish_user(db, login_as)
    jane = add_lines(
        db,
        make_contact("Jane", "Doe", owner=user, prefix="Mx."),
        ("phone", "555 0100", "Pager"),
        ("phone", "555 0101", "Mobile"),
    )

    form = page_of(web, edit_url("general", jane.id))
    page = page_of(web, record_url(jane.id))

    first = select_of(form, "phones-0-type")
    assert '<option selected value="Pager">Pager</option>' in first
    assert '<option value="Work">Trabajo</option>' in first
    # A default no longer offered is still named in the reader's language.
    second = select_of(form, "phones-1-type")
    assert '<option selected value="Mobile">Móvil</option>' in second
    assert '<option selected value="Mx.">Mx.</option>' in select_of(form, "prefix")
    assert ">Pager:<" in page and ">Móvil:<" in page
    assert 'id="full-name">Mx. Jane Doe<' in page


def test_the_country_filter_names_the_countries_in_the_readers_language(
    db, web, login_as
):
    user = spanish_user(db, login_as)

    spanish = page_of(web, "/admin/contact/")
    user.locale = "en"
    db.session.commit()
    english = page_of(web, "/admin/contact/")

    def country_options(page):
        groups = page.split('id="filter-groups-data"', 1)[1].split("</div>", 1)[0]
        return groups.split('"arg": "country_is"', 1)[1].split("]]", 1)[0]

    assert '["DEU", "Alemania"]' in country_options(spanish)
    assert "Germany" not in country_options(spanish)
    assert '["DEU", "Germany"]' in country_options(english)


def test_the_address_kinds_agree_with_address_in_spanish(
    db, web, login_as, make_contact
):
    user = spanish_user(db, login_as)
    jane = make_contact("Jane", "Doe", owner=user)

    form = page_of(web, edit_url("address", jane.id))

    kind = select_of(form, "kind")  # the row the "Add" button copies
    assert '<option value="shipping">Envío</option>' in kind
    assert '<option value="other">Otra</option>' in kind


@pytest.mark.parametrize(
    ("locale", "saved"), [("es", "Contacto guardado."), ("en", "Contact saved.")]
)
def test_values_no_list_offers_are_saved_unchanged(
    db, web, login_as, make_contact, locale, saved
):
    user = login_as("user")
    user.locale = locale
    db.session.commit()
    # "Móvil" and "Cliente" read like the labels of Mobile and Customer.
    jane = add_lines(
        db,
        make_contact(
            "Jane",
            "Doe",
            owner=user,
            prefix="Dr.",
            suffix="Esq.",
            contact_type="Cliente",
        ),
        ("phone", "555 0100", "Fax line"),
        ("phone", "555 0101", "Móvil"),
        ("fax", "555 0102", "mobile"),
    )

    response = edit(web, "general", jane.id, job_title="Buyer")

    assert saved in response.get_data(as_text=True)
    contact = reload(db, Contact, jane.id)
    assert contact.job_title == "Buyer"
    assert (contact.prefix, contact.suffix, contact.contact_type) == (
        "Dr.",
        "Esq.",
        "Cliente",
    )
    assert [p.type for p in contact.phones + contact.faxes] == [
        "Fax line",
        "Móvil",
        "mobile",
    ]
