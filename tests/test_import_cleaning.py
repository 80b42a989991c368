"""Control characters never reach the database; the row says what was removed."""

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import open_file, run
from crm.imports.rows import WARNING, clean_cell

PAD = "".join(f"Pad{i},P,pad{i}@example.com,,\n" for i in range(400))


def _contact(db, email):
    return db.session.scalars(
        select(Contact).where(Contact.primary_email == email)
    ).one()


def test_controls_after_the_first_8_kb_are_removed_with_a_warning(app, db):
    text = (
        "first_name,last_name,email,notes,company\n"
        + PAD
        + "Nul\x00Name,X,ctl2@example.com,n\x00te,\n"
        + "Bel\x07Esc\x1b,\x01Y\ufeff,ctl3@example.com,\x85,Co\ufeff\n"
        + 'Tab\tName,"Line\r\nFeed",ctl4@example.com,"multi\r\nline note",\n'
    )
    assert len(text.split("Nul")[0]) > 8192

    result = run(text.encode())
    db.session.commit()

    assert result.summary() == "created 403, updated 0, skipped 0, failed 0"
    nul = _contact(db, "ctl2@example.com")
    assert (nul.given_name, nul.person_notes) == ("NulName", "nte")
    bel = _contact(db, "ctl3@example.com")
    assert (bel.given_name, bel.family_name, bel.person_notes) == ("BelEsc", "Y", None)
    assert bel.company.name == "Co"
    tab = _contact(db, "ctl4@example.com")
    assert (tab.given_name, tab.family_name) == ("Tab Name", "Line Feed")
    assert tab.person_notes == "multi\nline note"
    warned = [(p.row, p.column, p.level) for p in result.problems]
    assert warned == [
        (402, "first_name", WARNING),
        (402, "notes", WARNING),
        (403, "first_name", WARNING),
        (403, "last_name", WARNING),
        (403, "notes", WARNING),
        (403, "company", WARNING),
    ]
    assert result.problems[0].message == (
        "Control characters were removed from this value."
    )


@pytest.mark.parametrize(
    "text, line_break, expected, removed",
    [
        ("plain", " ", "plain", False),
        ("a\x00b", " ", "ab", True),
        ("a\tb", " ", "a b", False),
        ("one\r\ntwo\n\nthree", " ", "one two three", False),
        ("one\r\ntwo\n\nthree", "\n", "one\ntwo\n\nthree", False),
        ("Golf\nTennis", ",", "Golf,Tennis", False),
        ("\ufeffBom", " ", "Bom", True),
        ("x\u2028y", " ", "x y", False),
    ],
)
def test_clean_cell(text, line_break, expected, removed):
    assert clean_cell(text, line_break) == (expected, removed)


def test_a_control_in_a_header_is_removed(app, db):
    contact_file = open_file("first\x01_name,email\ufeff\nAnn,a@example.com\n".encode())

    assert contact_file.headers == ["first_name", "email"]
