"""A large UTF-8 CSV is read from disk a line at a time, with exactly the rows,
problems and contacts the whole-file reader gives."""

import codecs

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports import csvfile, engine
from crm.imports.engine import ImportOptions, run

ROWS = (
    "First Name,Last Name,Email,Person Notes,Birthday\r\n"
    'Zoë,Møller,zoe@example.com,"two\r\nlines, quoted",1980-02-03\r\n'
    "李,王,li@example.com,plain,1975-12-31\r\n"
    'Ann,Lone,ann@example.com,"a lone\rreturn inside quotes",\r\n'
    "Old,Mac,old@example.com,ends in CR,\r"
    "Bad,Date,bad@example.com,,31/12/1990\n"
    "\n"
    "Zoë,,ZOE@example.com,,\n"
    "Extra,Cells,extra@example.com,,,surplus\n"
    "Last,Row,last@example.com,no newline at the end,"
)


@pytest.fixture
def big_file(tmp_path, monkeypatch):
    """The rows above in a file the importer streams (the size limit lowered)."""
    monkeypatch.setattr(engine, "STREAM_FROM_BYTES", 0)
    path = tmp_path / "contacts.csv"
    path.write_bytes(codecs.BOM_UTF8 + ROWS.encode("utf-8"))
    return path


def _summary(result):
    return (
        result.counts(),
        [p.as_dict() for p in result.problems],
        result.encoding,
        result.delimiter,
        result.unmapped,
    )


def test_a_large_utf8_file_is_streamed(app, db, big_file):
    contact_file = engine.open_streamed(big_file, ImportOptions())
    assert isinstance(contact_file.csv, csvfile.StreamedCsv)
    assert contact_file.headers[:2] == ["First Name", "Last Name"]


def test_streamed_and_whole_reads_give_the_same_result(app, db, big_file):
    whole = run(big_file.read_bytes(), options=ImportOptions(dry_run=True))
    db.session.rollback()
    streamed = run(big_file, options=ImportOptions(dry_run=True))
    db.session.rollback()
    assert _summary(streamed) == _summary(whole)
    options = ImportOptions()
    rows_whole = engine.preview_contacts(
        engine.open_file(big_file.read_bytes(), options), options, limit=100
    )
    rows_streamed = engine.preview_contacts(
        engine.open_streamed(big_file, options), options, limit=100
    )
    assert rows_streamed == rows_whole
    # A lone carriage return is a line break, stored as a newline.
    assert "a lone\nreturn" in rows_streamed[2][1].fields["person_notes"]
    assert streamed.rows == 8 and streamed.failed == 1 and streamed.skipped == 1


def test_a_streamed_import_stores_the_rows_as_written(app, db, big_file):
    result = run(big_file)
    db.session.commit()
    assert result.counts() == {
        "rows": 8,
        "created": 6,
        "updated": 0,
        "skipped": 1,
        "failed": 1,
    }
    notes = dict(
        db.session.execute(select(Contact.given_name, Contact.person_notes)).all()
    )
    assert notes["Zoë"] == "two\nlines, quoted"
    assert notes["Old"] == "ends in CR"
    assert notes["李"] == "plain"
    assert notes["Last"] == "no newline at the end"


@pytest.mark.parametrize(
    "data",
    [
        ROWS.encode("cp1252", errors="replace"),  # not UTF-8
        ROWS.encode("utf-16"),  # UTF-16 with its byte-order mark
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jane Doe\r\nEND:VCARD\r\n",
    ],
)
def test_other_files_are_read_whole(app, db, tmp_path, monkeypatch, data):
    monkeypatch.setattr(engine, "STREAM_FROM_BYTES", 0)
    path = tmp_path / "other.csv"
    path.write_bytes(data)
    assert engine.open_streamed(path, ImportOptions()) is None
    assert run(path, options=ImportOptions(dry_run=True)).rows >= 1


def test_a_small_file_and_a_chosen_encoding_are_read_whole(
    app, db, big_file, monkeypatch
):
    assert engine.open_streamed(big_file, ImportOptions(encoding="utf-8")) is None
    monkeypatch.setattr(engine, "STREAM_FROM_BYTES", big_file.stat().st_size + 1)
    assert engine.open_streamed(big_file, ImportOptions()) is None
