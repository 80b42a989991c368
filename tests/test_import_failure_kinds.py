"""failure-kinds.md, "Importing contact files" I1-I9, from its example inputs."""

import unicodedata
from datetime import date
from io import BytesIO

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact, ContactEmail
from crm.imports.engine import ImportOptions, open_file, run
from crm.imports.reading import ReadError


def _count(db, model=Contact):
    return db.session.scalar(select(func.count()).select_from(model))


def _contacts(db):
    return list(db.session.scalars(select(Contact).order_by(Contact.id)))


def _import(db, data: bytes, **options):
    result = run(data, options=ImportOptions(**options))
    db.session.commit()
    return result


# I1. Byte-order mark.
def test_bom_is_not_part_of_the_first_header(app, db):
    data = b"\xef\xbb\xbf" + b"email,first_name\r\njane@example.com,Jane\r\n"

    contact_file = open_file(data)
    assert contact_file.headers == ["email", "first_name"]
    assert contact_file.mapping == ["email1", "given_name"]

    result = _import(db, data)
    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    [jane] = _contacts(db)
    assert (jane.given_name, jane.primary_email) == ("Jane", "jane@example.com")


def test_file_without_a_mappable_column_is_refused_before_writing(app, db):
    data = b"\xef\xbb\xbf" + b"colour,size\r\nred,XL\r\n"

    with pytest.raises(ReadError, match="No column could be matched"):
        run(data)
    assert _count(db) == 0


# I2. Ambiguous dates.
def test_day_first_dates_are_read_as_day_first(app, db):
    data = b"last_name,birthdate\nDoe,12/3/1990\nRoe,31/12/1990\n"

    result = _import(db, data, date_format="%d/%m/%Y")

    assert result.failed == 0
    doe, roe = _contacts(db)
    assert doe.birthday == date(1990, 3, 12)
    assert roe.birthday == date(1990, 12, 31)


def test_month_first_date_read_day_first_is_an_error_not_a_rollover(app, db):
    data = b"last_name,birthdate\nDoe,12/3/1990\nRoe,12/31/1990\n"

    result = _import(db, data, date_format="%d/%m/%Y")

    assert result.summary() == "created 1, updated 0, skipped 0, failed 1"
    [problem] = result.problems
    assert (problem.row, problem.column, problem.level) == (3, "birthdate", "error")
    assert problem.message == "month 31 is not valid"
    assert [c.family_name for c in _contacts(db)] == ["Doe"]


def test_dates_not_in_the_chosen_format_are_errors(app, db):
    data = b"last_name,birthdate\nDoe,12/3/1990\n"

    result = _import(db, data)

    assert result.failed == 1
    assert "is not a date in the format YYYY-MM-DD" in result.problems[0].message
    assert _count(db) == 0


def test_preview_screen_shows_day_first_dates_as_dates(web, login_as, db):
    login_as("user")
    data = b"last_name,birthdate\nDoe,12/3/1990\nRoe,31/12/1990\n"
    response = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), "dates.csv")},
        content_type="multipart/form-data",
    )
    url = response.headers["Location"]
    form = {
        "map-0": "family_name",
        "map-1": "birthday",
        "date_format": "%d/%m/%Y",
        "on_duplicate": "update",
        "action": "check",
    }
    web.post(url, form)

    page = web.get(url).get_data(as_text=True)
    assert "March 12, 1990" in page
    assert "December 31, 1990" in page
    assert _count(db) == 0


# I3. Semicolon files.
def test_semicolon_file_is_detected_and_quoted_delimiters_stay(app, db):
    data = (
        "email;first_name;city\n"
        "jane@example.com;Jane;Köln\n"
        'john@example.com;"John; Jr";"Bonn; Beuel"\n'
    ).encode()

    contact_file = open_file(data)
    assert contact_file.delimiter == ";"
    result = _import(db, data)

    assert result.created == 2
    jane, john = _contacts(db)
    assert jane.billing_address.locality == "Köln"
    assert john.given_name == "John; Jr"
    assert john.billing_address.locality == "Bonn; Beuel"


# I4. Windows-1252, Latin-1 and UTF-16.
TEXT = "last_name,first_name\r\nÖzdemir,Ümit\r\nMüller,Jürgen\r\n"


@pytest.mark.parametrize(
    "data, encoding",
    [
        (TEXT.encode("cp1252"), "cp1252"),
        (b"\xff\xfe" + TEXT.encode("utf-16-le"), "utf-16-le"),
        (b"\xfe\xff" + TEXT.encode("utf-16-be"), "utf-16-be"),
        (TEXT.encode("utf-16-le"), "utf-16-le"),
        (TEXT.encode("utf-16-be"), "utf-16-be"),
    ],
    ids=["cp1252", "utf16le-bom", "utf16be-bom", "utf16le", "utf16be"],
)
def test_encoding_is_detected_and_names_are_stored_exactly(app, db, data, encoding):
    assert open_file(data).encoding == encoding

    _import(db, data)

    names = [(c.family_name, c.given_name) for c in _contacts(db)]
    assert names == [("Özdemir", "Ümit"), ("Müller", "Jürgen")]


def test_chosen_encoding_wins_and_a_wrong_one_is_refused(app, db):
    data = TEXT.encode("latin-1")

    assert open_file(data, ImportOptions(encoding="latin-1")).encoding == "iso8859-1"
    with pytest.raises(ReadError, match="cannot be read as utf-8"):
        run(data, options=ImportOptions(encoding="utf-8"))
    assert _count(db) == 0


# I5. Newlines inside quotes.
def test_quoted_newline_stays_in_one_contact(app, db):
    data = b'email,street\njane@example.com,"1 Main St\nApt 4"\n'

    result = _import(db, data)

    assert result.created == 1
    [jane] = _contacts(db)
    assert (jane.billing_address.line1, jane.billing_address.line2) == (
        "1 Main St",
        "Apt 4",
    )


# I6. Phone numbers as text.
def test_phones_stay_text_normalised_with_default_country(app_config, db, app):
    app.config["DEFAULT_PHONE_REGION"] = "DE"
    data = (
        b"last_name,phone\n"
        b"Eins,0261 8500000\n"
        b"Zwei,+44 20 7946 0000\n"
        b"Drei,4.91E+11\n"
        b"Vier,call the office\n"
    )

    result = _import(db, data)

    assert result.summary() == "created 4, updated 0, skipped 0, failed 0"
    eins, zwei, drei, vier = _contacts(db)
    assert (eins.phones[0].number, eins.phones[0].e164) == (
        "0261 8500000",
        "+492618500000",
    )
    assert (zwei.phones[0].number, zwei.phones[0].e164) == (
        "+44 20 7946 0000",
        "+442079460000",
    )
    assert drei.phones == []
    assert vier.phones == []  # no digits: the record refuses it too
    messages = {p.row: p.message for p in result.problems}
    assert "looks damaged by a spreadsheet" in messages[4]
    assert messages[5] == (
        "'call the office' has no digits, so it is no phone number; it was left out."
    )
    assert all(p.level == "warning" for p in result.problems)


# I7. E-mail case and spaces.
@pytest.mark.parametrize("slot", [1, 2, 3])
def test_email_matches_existing_contact_in_any_slot(app, db, slot):
    from crm.contacts.services import prepare

    jane = Contact(given_name="Jane", family_name="Doe")
    for n in range(1, 4):
        address = "jane@example.com" if n == slot else f"other{n}@example.com"
        jane.emails.append(ContactEmail(address=address))
    db.session.add(jane)
    prepare(jane, is_new=True)
    db.session.commit()

    result = _import(db, b"email,city\n Jane@Example.COM ,Bonn\n")

    assert result.summary() == "created 0, updated 1, skipped 0, failed 0"
    assert _count(db) == 1
    db.session.expire_all()
    assert db.session.get(Contact, jane.id).billing_address.locality == "Bonn"


# I8. Unicode normalisation.
def test_nfd_text_is_stored_nfc_and_matches_nfc_duplicates(app, db, make_contact):
    nfc_email = "josé.müller@example.com"
    existing = make_contact("José", "Müller", email=nfc_email)
    nfd = unicodedata.normalize("NFD", "Renée,Sørensen-Müller,josé.müller@example.com")
    other = unicodedata.normalize("NFD", "Zoë,Núñez,zoe@example.com")
    data = f"first_name,last_name,email\n{nfd}\n{other}\n".encode()
    assert unicodedata.normalize("NFC", data.decode()) != data.decode()

    result = _import(db, data, on_duplicate="skip")

    assert result.summary() == "created 1, updated 0, skipped 1, failed 0"
    zoe = db.session.scalar(select(Contact).where(Contact.id != existing.id))
    assert (zoe.given_name, zoe.family_name) == ("Zoë", "Núñez")
    assert zoe.given_name == unicodedata.normalize("NFC", "Zoë")


# I9. Odd but real e-mail addresses.
def test_odd_but_real_addresses_are_kept_and_non_addresses_warned(app, db):
    data = (
        "first_name,email,email 2\n"
        "John,john@doe.invalid,o'brien+crm@mail.example.co.uk\n"
        "Ann,ann@bücher.example,not an address\n"
    ).encode()

    result = _import(db, data)

    assert result.summary() == "created 2, updated 0, skipped 0, failed 0"
    john, ann = _contacts(db)
    assert [e.address for e in john.emails] == [
        "john@doe.invalid",
        "o'brien+crm@mail.example.co.uk",
    ]
    assert [e.address for e in ann.emails] == ["ann@bücher.example"]
    [warning] = result.problems
    assert (warning.row, warning.column, warning.level) == (3, "email 2", "warning")
    assert "not an address is not an e-mail address" in warning.message
