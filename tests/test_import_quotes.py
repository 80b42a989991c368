"""A quote that is never closed is reported on its row, not merged silently."""

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact
from crm.imports import csvfile, engine
from crm.imports.engine import ImportOptions, run
from crm.imports.rows import ERROR

UNCLOSED = (
    b"first_name,email,notes\n"
    b'Ann,ann@example.com,"unclosed note\n'
    b"Bob,bob@example.com,x\n"
    b"Cal,cal@example.com,y\n"
)


def _names(db):
    return [c.given_name for c in db.session.scalars(select(Contact))]


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
def test_unclosed_quote_fails_its_row_with_a_problem(
    app, db, tmp_path, monkeypatch, streamed
):
    path = tmp_path / "unclosed_quote.csv"
    path.write_bytes(UNCLOSED)
    if streamed:
        monkeypatch.setattr(engine, "STREAM_FROM_BYTES", 10)

    result = run(str(path))
    db.session.commit()

    assert result.summary() == "created 0, updated 0, skipped 0, failed 1"
    [problem] = result.problems
    assert (problem.row, problem.level) == (2, ERROR)
    assert problem.message.startswith("A quote opened in row 2 is not closed")
    assert _names(db) == []


def test_quoted_value_over_too_many_lines_is_refused(app, db, monkeypatch):
    monkeypatch.setattr(csvfile, "MAX_VALUE_LINES", 3)
    data = (
        b"first_name,email,notes\n"
        b'Ann,ann@example.com,"one\ntwo\nthree\nfour\nfive"\n'
        b'Bob,bob@example.com,"short\nnote"\n'
    )

    result = run(data)
    db.session.commit()

    assert result.summary() == "created 1, updated 0, skipped 0, failed 1"
    assert [(p.row, p.level) for p in result.problems] == [(2, ERROR)]
    assert "runs over 4 lines" in result.problems[0].message
    assert _names(db) == ["Bob"]


def test_closed_quotes_and_stray_quotes_are_read_as_before(app, db):
    data = (
        b"first_name,last_name,email,notes\n"
        b'Ann,O"Brien,ob@example.com,"two\nlines"\n'
        b'Bo"b,Smith,bs@example.com,5\'10"'
    )

    result = run(data, options=ImportOptions())
    db.session.commit()

    assert result.summary() == "created 2, updated 0, skipped 0, failed 0"
    assert sorted(_names(db)) == ["Ann", 'Bo"b']


@pytest.mark.parametrize("streamed", [False, True], ids=["whole", "streamed"])
@pytest.mark.parametrize("first", [b"sep=;", b'"sep=;"', b"SEP=;"])
def test_excel_sep_line_names_the_delimiter_and_is_no_header(
    app, db, tmp_path, monkeypatch, first, streamed
):
    path = tmp_path / "excel_sep.csv"
    path.write_bytes(
        first + b"\r\nfirst_name;email;city\r\nAnn;ann@example.com;K\xc3\xb6ln\r\n"
    )
    if streamed:
        monkeypatch.setattr(engine, "STREAM_FROM_BYTES", 10)

    contact_file = engine.open_streamed(path, ImportOptions()) or engine.open_file(
        path.read_bytes()
    )
    result = run(str(path))
    db.session.commit()

    assert (contact_file.delimiter, contact_file.headers) == (
        ";",
        ["first_name", "email", "city"],
    )
    assert result.summary() == "created 1, updated 0, skipped 0, failed 0"
    [ann] = db.session.scalars(select(Contact))
    assert (ann.given_name, ann.billing_address.locality) == ("Ann", "Köln")
