"""A vCard line that is not a property, or a missing END, costs no card."""

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import run
from crm.imports.rows import WARNING


def _contacts(db):
    return list(db.session.scalars(select(Contact).order_by(Contact.id)))


def test_a_fold_without_its_leading_space_continues_the_value(app, db):
    data = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Folded Person\r\nN:Person;Folded;;;\r\n"
        b"NOTE:This is a long note that is fol\r\nded without the leading space\r\n"
        b"EMAIL:folded@example.com\r\nEND:VCARD\r\n"
    )

    result = run(data)
    db.session.commit()

    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    assert [(p.row, p.level, p.message) for p in result.problems] == [
        (
            1,
            WARNING,
            "Line 6 is not a vCard property; it was read as the rest of the NOTE "
            "line before it.",
        )
    ]
    [person] = _contacts(db)
    assert person.person_notes == (
        "This is a long note that is folded without the leading space"
    )
    assert person.primary_email == "folded@example.com"


def test_a_card_without_end_is_read_up_to_the_next_card(app, db):
    data = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:One;First;;;\r\nEMAIL:one@example.com\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Two;Second;;;\r\nEMAIL:two@example.com\r\n"
        b"END:VCARD\r\n"
    )

    result = run(data)
    db.session.commit()

    assert result.summary() == "created 2, updated 0, skipped 0, failed 0"
    assert [(p.row, p.level, p.message) for p in result.problems] == [
        (
            1,
            WARNING,
            "The card has no END:VCARD before the next card begins (line 5); it "
            "was read up to there.",
        )
    ]
    assert [c.primary_email for c in _contacts(db)] == [
        "one@example.com",
        "two@example.com",
    ]


def test_a_line_of_text_before_the_first_card_is_allowed(app, db):
    data = (
        b"Exported by Foo\r\nBEGIN:VCARD\r\nVERSION:3.0\r\nN:Lead;Text;;;\r\n"
        b"EMAIL:lead@example.com\r\nEND:VCARD\r\n"
    )

    result = run(data)
    db.session.commit()

    assert (result.kind, result.created) == ("vcard", 1)
    assert _contacts(db)[0].family_name == "Lead"
