"""Files that are not what they should be: a clear message and nothing written."""

import os
from io import BytesIO

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm.contacts.models import Company, Contact
from crm.imports import engine
from crm.imports.engine import ImportOptions, run
from crm.imports.models import ImportJob
from crm.imports.reading import ReadError
from crm.imports.rows import WARNING
from crm.tags.models import Tag


def _nothing_written(db):
    db.session.rollback()
    for model in (Contact, Company, Tag):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01" + bytes(range(256))
LOREM = (
    b"Lorem ipsum dolor sit amet, consectetur adipiscing elit.\n"
    b"Sed do eiusmod tempor incididunt ut labore et dolore magna aliqua.\n"
)


@pytest.mark.parametrize(
    "data, message",
    [
        (PNG, "This is a PNG image, not a contact file"),
        (b"PK\x03\x04" + bytes(100), "save the sheet as CSV"),
        (LOREM, "No column could be matched to a name, company, e-mail or phone"),
        (os.urandom(4096), "binary data, not a contact file"),
        (b"", "The file is empty."),
        (b" \r\n\r\n\t", "The file is empty."),
        (b"email,first_name\r\n", "header row but no contacts"),
        (b"email,first_name\r\n,\r\n\r\n", "header row but no contacts"),
    ],
    ids=[
        "png",
        "xlsx",
        "lorem",
        "random-bytes",
        "empty",
        "blank",
        "headers",
        "headers-and-blank-rows",
    ],
)
def test_file_that_cannot_be_imported_gets_one_clear_message(app, db, data, message):
    with pytest.raises(ReadError, match=message):
        run(data)
    _nothing_written(db)


def test_file_over_the_limit_is_refused_before_reading(app, db):
    app.config["IMPORT_MAX_BYTES"] = 1000
    data = b"email,first_name\n" + b"jane@example.com,Jane\n" * 100

    with pytest.raises(ReadError) as caught:
        run(data)
    assert str(caught.value) == "The file is larger than the import limit (1000 bytes)."
    _nothing_written(db)


def test_vcard_with_a_broken_line_keeps_the_rest_of_that_card(app, db):
    data = (
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nTHIS IS BROKEN\r\n"
        b"EMAIL:jane@example.com\r\nCATEGORIES:VIP\r\nEND:VCARD\r\n"
        b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Roe;John;;;\r\nEND:VCARD\r\n"
    )

    result = run(data)
    db.session.commit()

    assert result.summary() == "created 2, updated 0, skipped 0, failed 0"
    [problem] = result.problems
    assert (problem.row, problem.level) == (1, WARNING)
    assert problem.message == (
        "Line 4 is not a vCard property: THIS IS BROKEN. It was left out."
    )
    contacts = db.session.scalars(select(Contact).order_by(Contact.id))
    assert [(c.family_name, c.primary_email) for c in contacts] == [
        ("Doe", "jane@example.com"),
        ("Roe", None),
    ]
    assert db.session.scalar(select(func.count()).select_from(Tag)) == 1


def test_vcard_cut_off_before_its_end_is_not_imported(app, db):
    data = b"BEGIN:VCARD\r\nVERSION:3.0\r\nN:Doe;Jane;;;\r\nEMAIL:jane@exa"

    result = run(data)

    assert result.summary() == "created 0, updated 0, skipped 0, failed 1"
    assert "no END:VCARD" in result.problems[0].message
    _nothing_written(db)


def test_text_that_only_mentions_vcard_is_not_a_vcard(app, db):
    with pytest.raises(ReadError, match="No column could be matched"):
        run(b"notes about BEGIN:VCARD files\nand more text\n")
    _nothing_written(db)


def test_unknown_encoding_or_date_format_is_refused(app, db):
    with pytest.raises(ReadError, match="not an encoding"):
        run(b"email\nj@example.com\n", options=ImportOptions(encoding="klingon-8"))
    with pytest.raises(engine.ServiceError, match="needs a day, a month and a year"):
        run(b"email\nj@example.com\n", options=ImportOptions(date_format="%Y"))
    _nothing_written(db)


def test_a_failing_batch_is_retried_row_by_row(app, db, monkeypatch):
    real_insert = engine.insert_contacts

    def insert(rows, **kwargs):
        if any(r.fields.get("family_name") == "Broken" for r in rows):
            raise IntegrityError("INSERT", {}, Exception("simulated constraint"))
        return real_insert(rows, **kwargs)

    monkeypatch.setattr(engine, "insert_contacts", insert)
    data = b"last_name,tags\nFirst,VIP\nBroken,VIP\nThird,VIP\n"

    result = run(data)
    db.session.commit()

    assert result.summary() == "created 2, updated 0, skipped 0, failed 1"
    assert result.problems[0].row == 3
    assert "could not be saved" in result.problems[0].message
    names = sorted(c.family_name for c in db.session.scalars(select(Contact)))
    assert names == ["First", "Third"]


def test_cli_refuses_a_50_mb_file_quickly(runner, db, tmp_path):
    big = tmp_path / "big.csv"
    with big.open("wb") as handle:
        handle.write(b"email,first_name\n")
        handle.truncate(50 * 1024 * 1024)

    result = runner.invoke(args=["contacts", "import", str(big)])

    assert result.exit_code == 1
    assert "The file is larger than the import limit (20 MB)." in result.output
    _nothing_written(db)


@pytest.mark.parametrize(
    "data, message",
    [
        (PNG, "This is a PNG image, not a contact file"),
        (LOREM, "No column could be matched"),
        (b"", "The file is empty."),
    ],
    ids=["png", "lorem", "empty"],
)
def test_screen_upload_of_a_bad_file_says_why_and_keeps_nothing(
    web, login_as, db, app, data, message
):
    login_as("user")
    response = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), "upload.bin")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )

    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0
    folder = os.path.join(app.config["UPLOAD_DIR"], "imports")
    assert not os.path.isdir(folder) or os.listdir(folder) == []
    _nothing_written(db)


def test_screen_upload_over_the_limit_is_refused(web, login_as, db, app):
    app.config["IMPORT_MAX_BYTES"] = 2048
    login_as("user")
    data = b"email,first_name\n" + b"jane@example.com,Jane\n" * 200

    response = web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), "big.csv")},
        content_type="multipart/form-data",
        follow_redirects=True,
    )

    assert "larger than the import limit (2 KB)" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ImportJob)) == 0


def test_row_with_values_only_in_unmapped_columns_is_skipped_with_a_warning(app, db):
    data = b"email,colour\njane@example.com,red\n,blue\n"

    result = run(data)
    db.session.commit()

    assert result.summary() == "created 1, updated 0, skipped 1, failed 0"
    [problem] = result.problems
    assert (problem.row, problem.level) == (3, "warning")
    assert "no values in the imported columns" in problem.message
