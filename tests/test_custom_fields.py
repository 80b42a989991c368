import json
import re

import pytest
from sqlalchemy import select

from crm.core.errors import ServiceError
from crm.customfields import services
from crm.customfields.models import CustomField, CustomHeader, CustomTab, CustomValue

OPTIONS = "Red\nGreen\nBlue"


@pytest.fixture
def header(db):
    tab = CustomTab(name="Preferences", position=1)
    head = CustomHeader(tab=tab, name="Shopping", position=1)
    db.session.add_all([tab, head])
    db.session.commit()
    return head


@pytest.fixture
def make_field(db, header):
    def make(field_type, label="Favourite", *, options=None, required=False, **kw):
        field = CustomField(
            header=header,
            label=label,
            field_type=field_type,
            options=options,
            required=required,
            field_name=kw.pop("field_name", None) or services.make_field_name(label),
            **kw,
        )
        db.session.add(field)
        db.session.commit()
        return field

    return make


VALID = [
    ("text", "  Blue shoes ", "Blue shoes"),
    ("text", "x" * 255, "x" * 255),
    ("text_area", "line one\r\nline two", "line one\nline two"),
    ("text_area", "x\r\n" * 30_000, ("x\n" * 30_000).strip()),
    ("whole_number", "42", "42"),
    ("whole_number", "-7", "-7"),
    ("whole_number", "1,234", "1234"),
    ("decimal", "3.750", "3.75"),
    ("decimal", "1,250.5", "1250.5"),
    ("decimal", "0.00", "0"),
    ("currency", "$1,234.5", "1234.50"),
    ("currency", "12", "12.00"),
    ("currency", "-€3.10", "-3.10"),
    ("percent", "12.5%", "12.5"),
    ("percent", "150", "150"),
    ("date", "2024-02-29", "2024-02-29"),
    ("date_time", "2026-03-01 14:30", "2026-03-01T14:30:00Z"),
    ("date_time", "2026-03-01T14:30+02:00", "2026-03-01T12:30:00Z"),
    ("date_time", "2026-03-01T14:30:00Z", "2026-03-01T14:30:00Z"),
    ("yes_no", "Yes", "1"),
    ("yes_no", "no", "0"),
    ("yes_no", "TRUE", "1"),
    ("dropdown", "green", "Green"),
    ("radio", "Blue", "Blue"),
    ("list_box", ["Blue", "Red"], '["Red", "Blue"]'),
    ("list_box", "blue, red", '["Red", "Blue"]'),
    ("list_box", '["Green"]', '["Green"]'),
    ("email", " jane@example.com ", "jane@example.com"),
    ("email", "john@doe.invalid", "john@doe.invalid"),
    ("phone", "+49 261 8500000", "+49 261 8500000"),
    ("phone", "555-0100 ext. 12", "555-0100 ext. 12"),
    ("website", "example.com/shop", "https://example.com/shop"),
    ("website", "http://example.org", "http://example.org"),
    ("year", "1990", "1990"),
    ("month", "03", "3"),
    ("month", "December", "12"),
    ("month", "sep", "9"),
    ("day_of_week", "tuesday", "Tuesday"),
    ("day_of_week", "Sun", "Sunday"),
    ("state", "US-CA", "US-CA"),
    ("state", "ny", "US-NY"),
    ("state", "California", "US-CA"),
    ("state", "de-by", "DE-BY"),
]


@pytest.mark.parametrize(("field_type", "raw", "stored"), VALID)
def test_valid_input_is_stored_in_canonical_form(make_field, field_type, raw, stored):
    field = make_field(field_type, options=OPTIONS)
    assert services.coerce_value(field, raw) == stored


INVALID = [
    ("text", "x" * 256, "Favourite: use at most 255 characters."),
    ("text_area", "x" * 65_536, "Favourite: use at most 65,535 characters."),
    ("whole_number", "4.5", "Favourite: enter a whole number, such as 42."),
    ("whole_number", "forty", "Favourite: enter a whole number, such as 42."),
    ("decimal", "3,75", "Favourite: enter a number, such as 3.75."),
    ("decimal", "1e5", "Favourite: enter a number, such as 3.75."),
    ("decimal", "NaN", "Favourite: enter a number, such as 3.75."),
    ("currency", "12.345", "Favourite: use at most two decimal places."),
    ("currency", "ten dollars", "Favourite: enter a number, such as 1250.00."),
    ("percent", "half", "Favourite: enter a number, such as 12.5."),
    ("date", "2026-02-30", "Favourite: day 30 is not valid in February 2026."),
    ("date", "2026-13-01", "Favourite: month 13 is not valid."),
    (
        "date",
        "31/12/1990",
        "Favourite: enter a date as YYYY-MM-DD, such as 2026-03-31.",
    ),
    (
        "date_time",
        "tomorrow",
        "Favourite: enter a date and time as YYYY-MM-DD HH:MM, "
        "such as 2026-03-31 14:30.",
    ),
    ("yes_no", "maybe", "Favourite: answer yes or no."),
    (
        "dropdown",
        "Purple",
        "Favourite: “Purple” is not one of the options (Red, Green, Blue).",
    ),
    ("radio", ["Red", "Blue"], "Favourite: choose one option."),
    (
        "list_box",
        ["Red", "Pink"],
        "Favourite: “Pink” is not one of the options (Red, Green, Blue).",
    ),
    (
        "email",
        "not-an-address",
        "Favourite: 'not-an-address' is not an e-mail address: "
        "An email address must have an @-sign.",
    ),
    (
        "phone",
        "4.91E+11",
        "Favourite: 4.91E+11 looks damaged by a spreadsheet; type the digits again.",
    ),
    ("phone", "call me", "Favourite: a phone number needs digits."),
    (
        "website",
        "javascript:alert(1)",
        "Favourite: enter a web address starting with http:// or https://.",
    ),
    (
        "website",
        "ftp://example.com",
        "Favourite: enter a web address starting with http:// or https://.",
    ),
    ("user", "999999", "Favourite: there is no user 999999."),
    ("year", "26", "Favourite: enter a year with four digits, such as 2026."),
    ("year", "0999", "Favourite: enter a year with four digits, such as 2026."),
    ("month", "13", "Favourite: enter a month, 1 to 12 or its name."),
    ("day_of_week", "Funday", "Favourite: enter a day of the week, Monday to Sunday."),
    (
        "state",
        "ZZ",
        "Favourite: ZZ is not a state or province code (use one such as US-CA or "
        "DE-BY).",
    ),
]


@pytest.mark.parametrize(("field_type", "raw", "message"), INVALID)
def test_invalid_input_is_refused_with_a_clear_message(
    make_field, field_type, raw, message
):
    field = make_field(field_type, options=OPTIONS)
    with pytest.raises(ServiceError) as caught:
        services.coerce_value(field, raw)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("date_order", "raw", "stored"),
    [
        ("DMY", "31/12/1990", "1990-12-31"),
        ("DMY", "12/3/1990", "1990-03-12"),
        ("MDY", "12/3/1990", "1990-12-03"),
        ("MDY", "2.29.2024", "2024-02-29"),
    ],
)
def test_import_date_order_reads_local_dates(make_field, date_order, raw, stored):
    field = make_field("date")
    assert services.coerce_value(field, raw, date_order=date_order) == stored


def test_day_first_date_never_rolls_over(make_field):
    field = make_field("date")
    with pytest.raises(ServiceError) as caught:
        services.coerce_value(field, "12/31/1990", date_order="DMY")
    assert caught.value.message == "Favourite: month 31 is not valid."


@pytest.mark.parametrize("raw", [None, "", "   ", [], ["", " "]])
def test_empty_input_means_no_value(make_field, raw):
    assert services.coerce_value(make_field("list_box", options=OPTIONS), raw) is None
    assert services.coerce_value(make_field("text", label="Other"), raw) is None


def test_required_field_refuses_an_empty_value(make_field):
    field = make_field("text", label="Account number", required=True)
    with pytest.raises(ServiceError) as caught:
        services.coerce_value(field, "  ")
    assert caught.value.message == "Account number: this field is required."


def test_user_field_takes_an_existing_user_by_id_or_email(make_field, make_user):
    user = make_user("sam@example.com", name="Sam Seller")
    field = make_field("user", label="Account manager")
    assert services.coerce_value(field, str(user.id)) == str(user.id)
    assert services.coerce_value(field, "Sam@Example.com") == str(user.id)
    assert services.display_value(field, str(user.id)) == "Sam Seller"


@pytest.mark.parametrize(
    ("field_type", "stored", "shown"),
    [
        ("yes_no", "1", "Yes"),
        ("yes_no", "0", "No"),
        ("list_box", '["Red", "Blue"]', "Red, Blue"),
        ("date_time", "2026-03-01T12:30:00Z", "2026-03-01 12:30 UTC"),
        ("currency", "1234.50", "1,234.50"),
        ("percent", "12.5", "12.5 %"),
        ("month", "3", "March"),
        ("state", "US-CA", "California (US-CA)"),
        ("date", "2024-02-29", "2024-02-29"),
        ("text", None, ""),
    ],
)
def test_display_value_reads_the_stored_text(make_field, field_type, stored, shown):
    field = make_field(field_type, options=OPTIONS)
    assert services.display_value(field, stored) == shown


def test_set_values_adds_updates_and_removes_rows(db, make_field, make_contact):
    colour = make_field("dropdown", label="Colour", options=OPTIONS)
    size = make_field("whole_number", label="Shoe size")
    note = make_field("text", label="Remark")
    contact = make_contact()
    version = contact.version

    services.set_values(contact, {colour: "red", size: "42", note: "hi"})
    db.session.commit()
    assert services.values_of(contact) == {
        colour.id: "Red",
        size.id: "42",
        note.id: "hi",
    }
    assert contact.version == version + 1

    changed = services.set_values(contact, {colour: "Blue", size: "42", note: ""})
    db.session.commit()
    assert changed == [colour, note]
    rows = db.session.scalars(
        select(CustomValue).where(CustomValue.contact_id == contact.id)
    ).all()
    assert {(r.field_id, r.value) for r in rows} == {
        (colour.id, "Blue"),
        (size.id, "42"),
    }


def test_set_values_writes_nothing_when_one_value_is_invalid(
    db, make_field, make_contact
):
    colour = make_field("dropdown", label="Colour", options=OPTIONS)
    size = make_field("whole_number", label="Shoe size")
    contact = make_contact()
    services.set_values(contact, {colour: "Red"})
    db.session.commit()

    with pytest.raises(ServiceError, match="Shoe size: enter a whole number"):
        services.set_values(contact, {colour: "Green", size: "big"})
    db.session.rollback()
    db.session.expire_all()
    assert services.values_of(contact) == {colour.id: "Red"}


def test_set_values_works_on_a_contact_not_yet_flushed(db, make_field):
    from crm.contacts.models import Contact

    size = make_field("whole_number", label="Shoe size")
    contact = Contact(given_name="New", family_name="Person")
    db.session.add(contact)
    services.set_values(contact, {size: "41"})
    db.session.commit()
    assert services.values_of(contact) == {size.id: "41"}


@pytest.mark.parametrize(
    "header_name",
    [
        "_Favourite Product",
        "favourite product",
        "FavouriteProduct",
        "_FAVOURITEPRODUCT",
    ],
)
def test_field_by_name_matches_label_or_field_name(make_field, header_name):
    field = make_field("text", label="Favourite Product")
    make_field("text", label="Favourite Colour")
    assert field.field_name == "FavouriteProduct"
    assert services.field_by_name(header_name) == field


def test_field_by_name_returns_none_for_unknown_or_empty(make_field):
    make_field("text", label="Favourite Product")
    assert services.field_by_name("Shoe size") is None
    assert services.field_by_name("  ") is None


def test_make_field_name_is_unique(make_field):
    make_field("text", label="Größe")
    assert services.make_field_name("Größe") == "Grosse2"


def test_list_box_value_is_a_json_list(make_field):
    field = make_field("list_box", options=OPTIONS)
    assert json.loads(services.coerce_value(field, "Green;Red")) == ["Red", "Green"]


# Admin definition screens -------------------------------------------------------


def test_admin_defines_a_tab_header_and_field(web, db, login_as):
    login_as("admin")
    assert (
        web.post("/admin/custom_tab/new/", {"name": "Preferences"}).status_code == 302
    )
    tab = db.session.scalar(select(CustomTab))
    assert (
        web.post(
            "/admin/custom_header/new/", {"tab": str(tab.id), "name": "Shopping"}
        ).status_code
        == 302
    )
    header = db.session.scalar(select(CustomHeader))

    response = web.post(
        "/admin/custom_field/new/",
        {
            "header": str(header.id),
            "label": "Favourite Product",
            "field_type": "dropdown",
            "options": "Shoes\r\n\r\n Hats \r\n",
            "machine_name": "",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    field = db.session.scalar(select(CustomField))
    assert field.field_name == "FavouriteProduct"
    assert field.option_list == ["Shoes", "Hats"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"label": "Colour", "field_type": "list_box", "options": ""},
            "A list box (multi-select) field needs its options, one a line.",
        ),
        (
            {"label": "Colour", "field_type": "radio", "options": "Red\nred"},
            "Each option can be listed once.",
        ),
        (
            {"label": "Colour", "field_type": "text", "machine_name": "1bad name"},
            "A field name uses letters, digits and underscores, starting with a "
            "letter.",
        ),
    ],
)
def test_bad_field_definitions_are_refused(web, db, login_as, header, data, message):
    login_as("admin")
    page = web.post(
        "/admin/custom_field/new/",
        {"header": str(header.id), **data},
        follow_redirects=True,
    )
    assert message in page.get_data(as_text=True)
    assert db.session.scalar(select(CustomField)) is None


def test_a_tab_that_still_has_headers_cannot_be_deleted(web, db, login_as, header):
    login_as("admin")
    tab_id = header.tab_id
    page = web.post(
        "/admin/custom_tab/delete/", {"id": str(tab_id)}, follow_redirects=True
    )
    assert (
        "The tab Preferences still has headers; delete or move them first."
        in page.get_data(as_text=True)
    )
    db.session.expire_all()
    assert db.session.get(CustomTab, tab_id) is not None


def test_an_empty_tab_can_be_deleted(web, db, login_as):
    login_as("admin")
    tab = CustomTab(name="Spare")
    db.session.add(tab)
    db.session.commit()
    web.post("/admin/custom_tab/delete/", {"id": str(tab.id)})
    db.session.expire_all()
    assert db.session.scalar(select(CustomTab)) is None


def test_a_header_that_still_has_fields_cannot_be_deleted(
    web, db, login_as, make_field
):
    login_as("admin")
    field = make_field("text")
    page = web.post(
        "/admin/custom_header/delete/",
        {"id": str(field.header_id)},
        follow_redirects=True,
    )
    assert "The header Shopping still has fields" in page.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(CustomHeader, field.header_id) is not None


def test_type_of_a_field_with_values_cannot_change(
    web, db, login_as, make_field, make_contact
):
    login_as("admin")
    field = make_field("text", label="Size")
    services.set_values(make_contact(), {field: "42"})
    db.session.commit()
    page = web.post(
        f"/admin/custom_field/edit/?id={field.id}",
        {
            "header": str(field.header_id),
            "label": "Size",
            "field_type": "whole_number",
            "machine_name": field.field_name,
        },
        follow_redirects=True,
    )
    assert "Contacts already have values in Size, so its type cannot change." in (
        page.get_data(as_text=True)
    )
    db.session.expire_all()
    assert db.session.get(CustomField, field.id).field_type == "text"


@pytest.mark.parametrize(
    "url", ["/admin/custom_tab/", "/admin/custom_header/", "/admin/custom_field/"]
)
def test_non_admin_cannot_open_the_definition_screens(web, login_as, url):
    login_as("user")
    assert web.get(url).status_code == 403


def test_non_admin_cannot_create_a_custom_field(web, db, login_as, header):
    login_as("user")
    response = web.post(
        "/admin/custom_field/new/",
        {"header": str(header.id), "label": "Sneaky", "field_type": "text"},
    )
    assert response.status_code == 403
    assert db.session.scalar(select(CustomField)) is None


# Custom tabs on the record ------------------------------------------------------


@pytest.fixture
def three_fields(make_field):
    return (
        make_field("whole_number", label="Shoe size"),
        make_field("date", label="Last visit"),
        make_field("list_box", label="Colours", options=OPTIONS),
    )


def tab_url(contact, tab_id):
    return f"/admin/contact/details/?id={contact.id}&tab=custom-{tab_id}"


def edit_url(contact, tab_id):
    return f"/admin/custom-values/{contact.id}/{tab_id}/"


def test_custom_tab_appears_on_the_record_with_its_values(
    web, db, login_as, make_contact, three_fields
):
    login_as("user")
    size, visit, colours = three_fields
    contact = make_contact()
    services.set_values(
        contact, {size: "42", visit: "2026-03-01", colours: ["Blue", "Red"]}
    )
    db.session.commit()
    tab_id = size.header.tab_id

    general = web.get(f"/admin/contact/details/?id={contact.id}").get_data(as_text=True)
    assert f'data-tab="custom-{tab_id}"' in general
    assert ">Preferences</a>" in general
    # Custom tabs sit after Person notes and before Tags.
    assert general.index("Person notes") < general.index("Preferences")
    assert general.index("Preferences") < general.index('data-tab="tags"')

    page = web.get(tab_url(contact, tab_id)).get_data(as_text=True)
    assert "Shopping" in page
    for label, shown in (
        ("Shoe size", "42"),
        ("Last visit", "2026-03-01"),
        ("Colours", "Red, Blue"),
    ):
        assert label in page
        assert f">{shown}</dd>" in page
    assert f'href="{edit_url(contact, tab_id)}"' in page


def test_edit_form_saves_valid_values_and_bumps_the_version(
    web, db, login_as, make_contact, three_fields
):
    login_as("user")
    size, visit, colours = three_fields
    contact = make_contact()
    version, tab_id = contact.version, size.header.tab_id

    form = web.get(edit_url(contact, tab_id)).get_data(as_text=True)
    assert 'type="number"' in form and 'type="date"' in form
    assert re.search(r"<select[^>]* multiple", form)

    response = web.post(
        edit_url(contact, tab_id),
        {
            f"field_{size.id}": "43",
            f"field_{visit.id}": "2026-04-02",
            f"field_{colours.id}": ["Green", "Red"],
            "version": str(version),
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(tab_url(contact, tab_id))

    db.session.expire_all()
    assert services.values_of(contact) == {
        size.id: "43",
        visit.id: "2026-04-02",
        colours.id: '["Red", "Green"]',
    }
    assert contact.version == version + 1
    page = web.get(tab_url(contact, tab_id)).get_data(as_text=True)
    assert "Preferences saved." in page


def test_invalid_values_are_reported_and_nothing_is_saved(
    web, db, login_as, make_contact, three_fields
):
    login_as("user")
    size, visit, colours = three_fields
    contact = make_contact()
    services.set_values(contact, {size: "42"})
    db.session.commit()
    version, tab_id = contact.version, size.header.tab_id

    response = web.post(
        edit_url(contact, tab_id),
        {
            f"field_{size.id}": "forty-three",
            f"field_{visit.id}": "2026-02-30",
            f"field_{colours.id}": ["Red"],
            "version": str(version),
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Nothing was saved: correct the fields marked below." in page
    assert "Shoe size: enter a whole number, such as 42." in page
    assert "Last visit: day 30 is not valid in February 2026." in page
    # What was typed is shown again, not lost.
    assert 'value="forty-three"' in page

    db.session.expire_all()
    assert services.values_of(contact) == {size.id: "42"}
    assert contact.version == version


def test_stale_edit_form_is_refused(web, db, login_as, make_contact, three_fields):
    login_as("user")
    size = three_fields[0]
    contact = make_contact()
    page = web.post(
        edit_url(contact, size.header.tab_id),
        {f"field_{size.id}": "40", "version": str(contact.version - 1)},
    )
    assert page.status_code == 409
    assert "changed by someone else" in page.get_data(as_text=True)
    db.session.expire_all()
    assert services.values_of(contact) == {}


def test_required_field_must_be_filled_in_the_form(
    web, db, login_as, make_contact, make_field
):
    login_as("user")
    field = make_field("text", label="Account number", required=True)
    contact = make_contact()
    page = web.post(
        edit_url(contact, field.header.tab_id),
        {f"field_{field.id}": " ", "version": str(contact.version)},
    )
    assert page.status_code == 400
    assert "Account number: this field is required." in page.get_data(as_text=True)


def test_custom_edit_of_an_unknown_contact_or_tab_is_not_found(
    web, login_as, make_contact, three_fields
):
    login_as("user")
    tab_id = three_fields[0].header.tab_id
    contact = make_contact()
    assert web.get(f"/admin/custom-values/{contact.id}/999999/").status_code == 404
    for method in (web.get, web.post):
        response = method(f"/admin/custom-values/999999/{tab_id}/")
        assert response.status_code == 302
        assert response.headers["Location"].endswith("/admin/contact/")


def read_custom_form(response):
    """The form as a browser posts it (a list box with nothing chosen sends nothing)."""
    from tests.record_helpers import read_form

    page = response.get_data(as_text=True)
    fields = read_form(page, "custom-values-form")
    for name in re.findall(r'<select[^>]* multiple[^>]* name="([^"]+)"', page):
        if not re.search(
            rf'name="{name}"[^>]*>(?:(?!</select>).)*selected', page, re.S
        ):
            fields.pop(name, None)
    return fields


def test_a_refused_stale_form_stays_refused_until_reloaded(
    web, db, login_as, make_contact, make_user, three_fields
):
    from tests.conftest import Web

    login_as("user")
    other = Web(web.client.application.test_client())
    other.login(make_user().email)
    size, visit, colours = three_fields
    contact = make_contact()
    url = edit_url(contact, size.header.tab_id)
    mine = read_custom_form(web.get(url))
    theirs = read_custom_form(other.get(url))

    assert other.post(url, {**theirs, f"field_{size.id}": "43"}).status_code == 302
    refused = web.post(url, {**mine, f"field_{visit.id}": "2026-04-02"})
    assert refused.status_code == 409
    assert "changed by someone else" in refused.get_data(as_text=True)
    again = read_custom_form(refused)
    assert again["version"] == mine["version"]
    assert again[f"field_{visit.id}"] == "2026-04-02"

    refused = web.post(url, again)
    assert refused.status_code == 409
    db.session.expire_all()
    assert services.values_of(contact) == {size.id: "43"}

    reloaded = read_custom_form(web.get(url))
    reloaded[f"field_{visit.id}"] = "2026-04-02"
    assert web.post(url, reloaded).status_code == 302
    db.session.expire_all()
    assert services.values_of(contact) == {size.id: "43", visit.id: "2026-04-02"}


@pytest.fixture
def retired(db, make_field, make_user, make_contact):
    """Values stored while valid; then the user is deactivated and Green renamed."""
    sofia = make_user("sofia@example.com", name="Sofía Márquez")
    fields = {
        "note": make_field("text", label="Note"),
        "manager": make_field("user", label="Manager"),
        "colour": make_field("dropdown", label="Colour", options=OPTIONS),
        "shade": make_field("radio", label="Shade", options=OPTIONS),
        "colours": make_field("list_box", label="Colours", options=OPTIONS),
    }
    contact = make_contact()
    services.set_values(
        contact,
        {
            fields["manager"]: str(sofia.id),
            fields["colour"]: "Green",
            fields["shade"]: "Green",
            fields["colours"]: ["Red", "Green"],
        },
    )
    sofia.active = False
    for name in ("colour", "shade", "colours"):
        fields[name].options = "Red\nLime\nBlue"
    db.session.commit()
    return contact, fields, sofia


def test_values_no_longer_offered_are_shown_marked_and_kept_on_save(
    web, db, login_as, retired
):
    login_as("user")
    contact, fields, sofia = retired
    before = services.values_of(contact)
    url = edit_url(contact, fields["note"].header.tab_id)

    response = web.get(url)
    page = response.get_data(as_text=True)
    assert "Sofía Márquez (deactivated)" in page
    assert "Green (no longer offered)" in page
    form = read_custom_form(response)
    assert form[f"field_{fields['manager'].id}"] == str(sofia.id)
    assert form[f"field_{fields['colour'].id}"] == "Green"
    assert form[f"field_{fields['shade'].id}"] == "Green"
    assert re.findall(r'<option selected value="([^"]*)"', page) == [
        str(sofia.id),
        "Green",
        "Red",
        "Green",
    ]

    data = {**form, f"field_{fields['note'].id}": "only this changed"}
    data[f"field_{fields['colours'].id}"] = ["Red", "Green"]
    assert web.post(url, data).status_code == 302
    db.session.expire_all()
    assert services.values_of(contact) == {
        **before,
        fields["note"].id: "only this changed",
    }


def test_a_value_no_longer_offered_can_be_changed_but_not_chosen_anew(
    web, db, login_as, make_contact, retired
):
    login_as("user")
    contact, fields, sofia = retired
    colours = fields["colours"]
    assert services.coerce_value(
        colours, ["Green", "Lime"], stored='["Red", "Green"]'
    ) == ('["Lime", "Green"]')
    assert services.coerce_value(fields["colour"], "Lime", stored="Green") == "Lime"
    with pytest.raises(ServiceError):
        services.coerce_value(fields["colour"], "Green")
    with pytest.raises(ServiceError):
        services.coerce_value(colours, ["Green"], stored='["Red"]')

    # On another contact, nothing is stored: Green is not offered there.
    other = make_contact("John", "Roe")
    url = edit_url(other, colours.header.tab_id)
    page = web.get(url).get_data(as_text=True)
    assert "no longer offered" not in page and "(deactivated)" not in page
    response = web.post(
        url, {f"field_{fields['colour'].id}": "Green", "version": str(other.version)}
    )
    assert response.status_code == 400
    assert "Colour: “Green” is not one of the options" in response.get_data(
        as_text=True
    )


@pytest.mark.parametrize("posted", ["id", "email"])
def test_a_deactivated_user_is_refused_as_a_new_value(
    web, db, login_as, make_contact, make_field, make_user, posted
):
    login_as("user")
    field = make_field("user", label="Manager")
    gone = make_user("gone@example.com", name="Gus Gone")
    gone.active = False
    db.session.commit()
    contact = make_contact()
    raw = str(gone.id) if posted == "id" else "Gone@Example.com"

    with pytest.raises(ServiceError) as caught:
        services.coerce_value(field, raw)
    message = "Manager: Gus Gone is deactivated; choose an active user."
    assert caught.value.message == message
    assert services.coerce_value(field, raw, stored=str(gone.id)) == str(gone.id)

    url = edit_url(contact, field.header.tab_id)
    assert "Gus Gone" not in web.get(url).get_data(as_text=True)
    response = web.post(url, {f"field_{field.id}": raw, "version": "1"})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert services.values_of(contact) == {}


def test_yes_no_value_can_be_cleared_again(web, db, login_as, make_contact, make_field):
    login_as("user")
    field = make_field("yes_no", label="Newsletter")
    contact = make_contact()
    services.set_values(contact, {field: "yes"})
    db.session.commit()
    url = edit_url(contact, field.header.tab_id)
    form = web.get(url).get_data(as_text=True)
    checked = re.findall(
        r'<input[^>]* checked[^>]*type="radio"[^>]*value="([^"]*)"', form
    )
    assert checked == ["1"]
    assert 'value=""' in form

    response = web.post(url, {f"field_{field.id}": "", "version": str(contact.version)})
    assert response.status_code == 302
    db.session.expire_all()
    assert services.values_of(contact) == {}


def test_custom_values_are_escaped_on_the_record(
    web, db, login_as, make_contact, make_field
):
    login_as("user")
    field = make_field("text", label="Motto")
    contact = make_contact()
    services.set_values(contact, {field: "<img src=x onerror=alert(1)>"})
    db.session.commit()
    page = web.get(tab_url(contact, field.header.tab_id)).get_data(as_text=True)
    assert "<img src=x" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


@pytest.mark.parametrize(
    ("field_type", "options", "posted", "stored"),
    [
        ("yes_no", None, "1", "1"),
        ("radio", OPTIONS, "Green", "Green"),
        ("dropdown", OPTIONS, "Blue", "Blue"),
        ("date_time", None, "2026-03-01T14:30", "2026-03-01T14:30:00Z"),
        ("currency", None, "19.9", "19.90"),
        ("month", None, "3", "3"),
        ("day_of_week", None, "Friday", "Friday"),
        ("state", None, "US-TX", "US-TX"),
        ("website", None, "example.com", "https://example.com"),
        ("text_area", None, "one\r\ntwo", "one\ntwo"),
    ],
)
def test_each_input_kind_saves_through_the_form(
    web, db, login_as, make_contact, make_field, field_type, options, posted, stored
):
    login_as("user")
    field = make_field(field_type, options=options)
    contact = make_contact()
    url = edit_url(contact, field.header.tab_id)
    assert web.get(url).status_code == 200
    response = web.post(
        url, {f"field_{field.id}": posted, "version": str(contact.version)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert services.values_of(contact) == {field.id: stored}


@pytest.fixture
def spanish_reader(app):
    from flask_babel import refresh

    with app.test_request_context(headers={"Accept-Language": "es"}):
        refresh()
        yield
    refresh()


def test_months_and_weekdays_read_in_the_readers_language(make_field, spanish_reader):
    month = make_field("month", label="Mes")
    weekday = make_field("day_of_week", label="Día")
    assert services.display_value(month, "2") == "febrero"
    assert services.display_value(weekday, "Monday") == "lunes"
    # Typed in Spanish or in English, the same value is stored.
    assert services.coerce_value(month, "febrero") == "2"
    assert services.coerce_value(month, "February") == "2"
    assert services.coerce_value(weekday, "lunes") == "Monday"
    with pytest.raises(ServiceError) as caught:
        services.coerce_value(make_field("date", label="Fecha"), "2025-02-30")
    assert "febrero" in caught.value.message
