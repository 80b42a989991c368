"""Imports apply the record's rules to what they bring in: a value the record
would refuse is left out with a row warning (the row is still imported), and
an extension typed with a number moves to the extension field."""

from datetime import date

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, open_file, run
from crm.imports.rows import WARNING

NOTES = "n" * 70_000


def _import(db, data: bytes, **options):
    result = run(data, options=ImportOptions(**options))
    db.session.commit()
    return result


def _only(db):
    return db.session.scalars(select(Contact)).one()


def _warnings(result):
    assert all(p.level == WARNING for p in result.problems), result.problems
    return [(p.column, p.message) for p in result.problems]


def _numbers(rows):
    return [(p.number, p.extension) for p in rows]


CSV_HEADER = (
    b"First Name,Last Name,Email,Website,Birthday,Anniversary,Person Notes,"
    b"Assistant Phone,Phone 1,Phone 1 Ext,Phone 2,Phone 3,Fax 1\n"
)


def test_the_columns_of_the_rules_are_mapped(app, db):
    headers, keys = _mapping(CSV_HEADER + b"a,b,c,d,e,f,g,h,i,j,k,l,m\n")
    mapping = dict(zip(headers, keys, strict=True))

    assert mapping == {
        "First Name": "given_name",
        "Last Name": "family_name",
        "Email": "email1",
        "Website": "website",
        "Birthday": "birthday",
        "Anniversary": "anniversary",
        "Person Notes": "person_notes",
        "Assistant Phone": "assistant_phone",
        "Phone 1": "phone1",
        "Phone 1 Ext": "phone1_ext",
        "Phone 2": "phone2",
        "Phone 3": "phone3",
        "Fax 1": "fax1",
    }


def _mapping(data):
    contact_file = open_file(data)
    return contact_file.headers, contact_file.mapping


def test_a_csv_row_keeps_what_the_record_takes_and_warns_of_the_rest(app, db):
    row = (
        "Jane,Doe,jane@example.com,javascript:alert(1),1850-01-01,2999-01-01,"
        f"{NOTES},212 555 0100 x5,tel:+1-212-555-0100;ext=99,5,"
        "+1 212 555 0101 #12,(212) 555-0102x12,+1 212 555 0199 x4\n"
    )

    result = _import(db, CSV_HEADER + row.encode())

    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    jane = _only(db)
    assert (jane.website, jane.birthday, jane.anniversary) == (None, None, None)
    assert jane.person_notes is None
    assert jane.assistant_phone == "212 555 0100"
    assert _numbers(jane.phones) == [
        ("+1-212-555-0100", "5"),
        ("+1 212 555 0101", "12"),
        ("(212) 555-0102", "12"),
    ]
    assert _numbers(jane.faxes) == [("+1 212 555 0199", None)]
    assert _warnings(result) == [
        (
            "Website",
            "Website: 'javascript:alert(1)' is not a web address; enter one such as "
            "https://example.com. This value was left out.",
        ),
        (
            "Birthday",
            "Birthday: 1850-01-01 is before 1900; check the year. "
            "This value was left out.",
        ),
        (
            "Anniversary",
            "The anniversary 2999-01-01 is after next year; check the year. "
            "This value was left out.",
        ),
        (
            "Person Notes",
            "The person notes are 70,000 characters long; they may have at most "
            "65,535. This value was left out.",
        ),
        (
            "Assistant Phone",
            "The assistant phone has no extension; 212 555 0100 was kept without "
            "the extension 5.",
        ),
        (
            "Phone 1",
            "The number +1-212-555-0100 ends in extension 99 but the extension "
            "column says 5; the column's extension was kept.",
        ),
        (
            "Fax 1",
            "A fax has no extension; +1 212 555 0199 was kept without the extension 4.",
        ),
    ]


def test_an_update_by_csv_takes_the_same_rules_and_never_fails_the_row(
    app, db, make_contact
):
    make_contact("Jane", "Doe", email="jane@example.com")
    row = (
        "Jane,Doe,jane@example.com,example.com,1990-05-01,2999-01-01,,"
        "212 555 0100 x5,+1 212 555 0101 #12,,,,+1 212 555 0199 x4\n"
    )

    result = _import(db, CSV_HEADER + row.encode(), on_duplicate="update")

    assert result.summary() == "created 0, updated 1, skipped 0, failed 0"
    jane = _only(db)
    assert (jane.website, jane.birthday, jane.anniversary) == (
        "https://example.com",
        date(1990, 5, 1),
        None,
    )
    assert jane.assistant_phone == "212 555 0100"
    assert _numbers(jane.phones) == [("+1 212 555 0101", "12")]
    assert _numbers(jane.faxes) == [("+1 212 555 0199", None)]
    assert [column for column, _message in _warnings(result)] == [
        "Anniversary",
        "Assistant Phone",
        "Fax 1",
    ]


VCARD = """BEGIN:VCARD
VERSION:3.0
N:Doe;Jane;;;
FN:Jane Doe
EMAIL:jane@example.com
BDAY:1850-01-01
X-ANNIVERSARY:2999-01-01
URL:javascript:alert(1)
TEL;TYPE=work:+1 212 555 0101 #12
TEL;TYPE=fax,work:+1 212 555 0199 x4
END:VCARD
"""


def test_a_vcard_keeps_what_the_record_takes_and_warns_of_the_rest(app, db):
    result = _import(db, VCARD.encode())

    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    jane = _only(db)
    assert (jane.website, jane.birthday, jane.anniversary) == (None, None, None)
    assert _numbers(jane.phones) == [("+1 212 555 0101", "12")]
    assert _numbers(jane.faxes) == [("+1 212 555 0199", None)]
    warnings = _warnings(result)
    assert [column for column, _message in warnings] == [
        "URL",
        "BDAY",
        "X-ANNIVERSARY",
        "TEL",
    ]
    assert warnings[0][1].startswith("Website: 'javascript:alert(1)' is not a web")
    assert warnings[1][1].startswith("Birthday: 1850-01-01 is before 1900")
    assert warnings[2][1].startswith("The anniversary 2999-01-01 is after next year")
    assert warnings[3][1] == (
        "A fax has no extension; +1 212 555 0199 was kept without the extension 4."
    )


def test_a_vcard_website_without_a_scheme_is_stored_as_the_record_stores_it(app, db):
    card = VCARD.replace("URL:javascript:alert(1)", "URL:example.com")

    _import(db, card.encode())

    assert _only(db).website == "https://example.com"
