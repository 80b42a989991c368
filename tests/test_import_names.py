"""A full-name column is split into prefix, given name, family name and suffix."""

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import run
from crm.imports.rows import split_full_name

NAME_PARTS = ("prefix", "given_name", "middle_name", "family_name", "suffix")


@pytest.mark.parametrize(
    "text, parts",
    [
        ("Doe, Jane", (None, "Jane", None, "Doe", None)),
        ("Dr. John Smith Jr.", ("Dr.", "John", None, "Smith", "Jr.")),
        ("Madonna", (None, "Madonna", None, None, None)),
        ("  Jane   Q.  Public ", (None, "Jane Q.", None, "Public", None)),
        ("John Smith, Jr.", (None, "John", None, "Smith", "Jr.")),
        ("Mr. Smith", ("Mr.", None, None, "Smith", None)),
        ("Ana de la Cruz", (None, "Ana", None, "de la Cruz", None)),
        ("van Beethoven, Ludwig", (None, "Ludwig", None, "van Beethoven", None)),
        ("Prof. Dr. Hans Müller PhD", ("Prof. Dr.", "Hans", None, "Müller", "PhD")),
    ],
)
def test_split_full_name(text, parts):
    found = split_full_name(text)

    assert tuple(found.get(key) for key in NAME_PARTS) == parts


def test_full_name_column_is_split_on_import(app, db):
    data = (
        b"Name,Email\n"
        b'"Doe, Jane",jd@example.com\n'
        b"Dr. John Smith Jr.,js@example.com\n"
        b'"  Jane   Q.  Public ",jqp@example.com\n'
    )

    result = run(data)
    db.session.commit()

    assert result.created == 3
    contacts = db.session.scalars(select(Contact).order_by(Contact.id))
    assert [tuple(getattr(c, k) for k in NAME_PARTS) for c in contacts] == [
        (None, "Jane", None, "Doe", None),
        ("Dr.", "John", None, "Smith", "Jr."),
        (None, "Jane Q.", None, "Public", None),
    ]


def test_vcard_fn_without_n_is_split_the_same_way(app, db):
    data = b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Doe\\, Jane\r\nEND:VCARD\r\n"

    run(data)
    db.session.commit()

    [jane] = db.session.scalars(select(Contact))
    assert (jane.given_name, jane.family_name) == ("Jane", "Doe")
