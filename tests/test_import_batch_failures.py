"""A row merged into an earlier row of its batch fails with it, with its own line."""

from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports import engine
from crm.imports.engine import ImportOptions, run
from crm.imports.rows import ERROR

DATA = (
    b"first_name,last_name,email,phone\n"
    b"Pad,P,pad@example.com,\n"
    b"Bad,Nul,dup@example.com,\n"
    b"Ann,Later,dup@example.com,+1 202 555 0100\n"
)


def _refuse_bad_rows(monkeypatch):
    real = engine.Importer._insert_rows

    def insert_rows(self, rows):
        if any(r.fields.get("given_name") == "Bad" for r in rows):
            raise ValueError("refused by the database")
        return real(self, rows)

    monkeypatch.setattr(engine.Importer, "_insert_rows", insert_rows)


def test_row_merged_into_a_failed_row_fails_too(app, db, monkeypatch):
    _refuse_bad_rows(monkeypatch)

    result = run(DATA)
    db.session.commit()

    assert result.summary() == "created 1, updated 0, skipped 0, failed 2"
    assert [(p.row, p.level) for p in result.problems] == [(3, ERROR), (4, ERROR)]
    assert result.problems[1].message == (
        "The row repeats the contact of row 3, which could not be saved."
    )
    names = [c.given_name for c in db.session.scalars(select(Contact))]
    assert names == ["Pad"]


def test_dry_run_reports_the_same(app, db, monkeypatch):
    _refuse_bad_rows(monkeypatch)

    result = run(DATA, options=ImportOptions(dry_run=True))

    assert result.summary() == "created 1, updated 0, skipped 0, failed 2"


def test_row_merged_into_a_saved_row_is_counted_updated(app, db):
    result = run(DATA)
    db.session.commit()

    assert result.summary() == "created 2, updated 1, skipped 0, failed 0"
    ann = db.session.scalars(select(Contact).where(Contact.given_name == "Bad")).one()
    assert [p.number for p in ann.phones] == ["+1 202 555 0100"]
