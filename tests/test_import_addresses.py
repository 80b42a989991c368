"""Filling blanks never mixes two addresses: an address is filled as a whole."""

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports.engine import ImportOptions, address_slot, run
from crm.imports.rows import WARNING

SEED = b"first_name,email,street,city,postal code\nAnn,addr@example.com,1 Main St,,\n"
UPDATE = (
    b"first_name,email,street,city,postal code\n"
    b"Ann,addr@example.com,5 Other Rd,Boston,02101\n"
)


def _import(db, data, **options):
    result = run(data, options=ImportOptions(**options))
    db.session.commit()
    db.session.expire_all()
    return result


def _ann(db):
    return db.session.scalars(select(Contact)).one()


def _addresses(contact):
    return {a.kind: (a.line1, a.locality, a.postal_code) for a in contact.addresses}


def test_another_address_goes_to_the_next_free_slot(app, db):
    _import(db, SEED)

    result = _import(db, UPDATE)

    assert result.summary() == "created 0, updated 1, skipped 0, failed 0"
    assert _addresses(_ann(db)) == {
        "billing": ("1 Main St", None, None),
        "shipping": ("5 Other Rd", "Boston", "02101"),
    }


def test_the_same_address_again_changes_nothing(app, db):
    _import(db, UPDATE)

    result = _import(db, SEED.replace(b"1 Main St", b"5 other rd"))

    assert result.summary() == "created 0, updated 0, skipped 1, failed 0"
    assert list(_addresses(_ann(db))) == ["billing"]


def test_an_address_without_a_free_slot_is_left_out_with_a_warning(app, db):
    data = (
        b"first_name,email,street,street 2,street 3\n"
        b"Ann,addr@example.com,1 Main St,2 Side St,3 Back St\n"
    )
    mapping = ["given_name", "email1", "billing_line1", "shipping_line1", "other_line1"]
    _import(db, data, mapping=mapping)

    result = _import(db, UPDATE)

    assert result.summary() == "created 0, updated 0, skipped 1, failed 0"
    assert [(p.row, p.level) for p in result.problems] == [(2, WARNING)]
    assert result.problems[0].message == (
        "The address 5 Other Rd, Boston, 02101 was not added: the contact's "
        "addresses are all filled."
    )
    assert _addresses(_ann(db))["billing"] == ("1 Main St", None, None)


def test_rows_of_one_batch_are_merged_the_same_way(app, db):
    result = _import(db, SEED + UPDATE.split(b"\n", 1)[1])

    assert result.summary() == "created 1, updated 1, skipped 0, failed 0"
    assert _addresses(_ann(db)) == {
        "billing": ("1 Main St", None, None),
        "shipping": ("5 Other Rd", "Boston", "02101"),
    }


def test_two_spellings_of_one_address_are_one_address():
    have = {"billing": {"line1": "Heidestraße 17", "locality": "Köln"}}

    same = {"line1": "Heidestrasse 17", "locality": "Koeln"}
    other = {"line1": "Heidestraße 19", "locality": "Köln"}

    assert address_slot(have, "billing", same) is None
    assert address_slot(have, "billing", other) == "shipping"
