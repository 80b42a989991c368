"""flask contacts import FILE: options, output, exit codes."""

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact


def _count(db):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(Contact))


def _write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _lines(result):
    return result.stdout.strip().splitlines()


def test_import_ends_with_the_summary_line_and_commits(runner, db, corpus):
    path = corpus / "crafted" / "keap-style-export.csv"

    result = runner.invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert _lines(result)[-1] == "created 12, updated 0, skipped 0, failed 0"
    assert _lines(result)[0].endswith("CSV, utf-8, comma-separated, preset keap.")
    assert "Importing" in result.stderr
    assert _count(db) == 12


def test_dry_run_reports_and_writes_nothing(runner, db, corpus):
    path = corpus / "salesforce-dcw" / "Contact.csv"

    result = runner.invoke(args=["contacts", "import", str(path), "--dry-run"])

    assert result.exit_code == 0, result.output
    assert _lines(result)[-2:] == [
        "Dry run: nothing was written.",
        "created 102, updated 0, skipped 0, failed 0",
    ]
    assert _count(db) == 0


def test_problems_are_listed_by_row_and_column_and_capped(runner, db, tmp_path):
    rows = "".join(f"P{n},12/31/1990\n" for n in range(60))
    path = _write(tmp_path, "dates.csv", f"last_name,birthday\nGood,\n{rows}".encode())

    result = runner.invoke(
        args=["contacts", "import", path, "--date-format", "%d/%m/%Y"]
    )

    assert result.exit_code == 0
    lines = _lines(result)
    assert "row 3, column birthday: month 31 is not valid (row not imported)" in lines
    assert sum(1 for line in lines if line.startswith("row ")) == 50
    assert "... and 10 more problems." in lines
    assert lines[-1] == "created 1, updated 0, skipped 0, failed 60"
    assert _count(db) == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.csv"], "does not exist"),
        (["empty.csv"], "The file is empty."),
        (["notes.txt"], "No column could be matched"),
        (["ok.csv", "--encoding", "no-such-code"], "is not an encoding"),
        (
            ["ok.csv", "--date-format", "%m/%Y"],
            "needs a day, a month and a year, for example %d/%m/%Y.",
        ),
        (
            ["ok.csv", "--date-format", "%d.%q.%Y"],
            "may only use %d, %m, %Y, %y, %b.",
        ),
        (["ok.csv", "--owner", "nobody@example.com"], "no active user"),
    ],
    ids=[
        "missing",
        "empty",
        "not-contacts",
        "encoding",
        "date-format",
        "date-code",
        "owner",
    ],
)
def test_unreadable_file_exits_non_zero_with_one_line(
    runner, db, tmp_path, args, message
):
    _write(tmp_path, "empty.csv", b"")
    _write(tmp_path, "notes.txt", b"Shopping list\nmilk\neggs\n")
    _write(tmp_path, "ok.csv", b"email\njane@example.com\n")
    args = [str(tmp_path / args[0]), *args[1:]]

    result = runner.invoke(args=["contacts", "import", *args])

    assert result.exit_code != 0
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert _count(db) == 0


def test_owner_owns_the_new_contacts(runner, db, make_user, tmp_path):
    owner = make_user("owner@example.com")
    path = _write(tmp_path, "one.csv", b"email,first_name\njane@example.com,Jane\n")

    result = runner.invoke(args=["contacts", "import", path, "--owner", owner.email])

    assert result.exit_code == 0, result.output
    jane = db.session.scalar(select(Contact))
    assert jane.owner_id == owner.id and jane.created_by_id == owner.id


def test_owner_without_the_import_right_is_refused(runner, db, make_user, tmp_path):
    from crm.access.services import set_user_permissions

    user = make_user("plain@example.com")
    set_user_permissions(user, {"contacts": {"can_import": False}})
    db.session.commit()
    path = _write(tmp_path, "one.csv", b"email\njane@example.com\n")

    result = runner.invoke(args=["contacts", "import", path, "--owner", user.email])

    assert result.exit_code == 1
    assert "You may not import contacts." in result.stderr
    assert _count(db) == 0


@pytest.mark.parametrize(
    "preset, prefix, job_title", [("keap", "Dr.", None), ("salesforce", None, "Dr.")]
)
def test_preset_decides_what_a_header_means(
    runner, db, tmp_path, preset, prefix, job_title
):
    path = _write(tmp_path, "t.csv", b"Email,Title\njane@example.com,Dr.\n")

    result = runner.invoke(args=["contacts", "import", path, "--preset", preset])

    assert result.exit_code == 0, result.output
    jane = db.session.scalar(select(Contact))
    assert (jane.prefix, jane.job_title) == (prefix, job_title)


def test_encoding_and_duplicate_options(runner, db, tmp_path, make_contact):
    make_contact("Jürgen", "Müller", email="jm@example.com")
    data = "last_name,first_name,email\nMüller,Jürgen,jm@example.com\nÖz,Ümit,u@x.de\n"
    path = _write(tmp_path, "latin.csv", data.encode("latin-1"))

    result = runner.invoke(
        args=[
            "contacts",
            "import",
            path,
            "--encoding",
            "latin-1",
            "--on-duplicate",
            "skip",
        ]
    )

    assert result.exit_code == 0, result.output
    assert "iso8859-1" in _lines(result)[0]
    assert _lines(result)[-1] == "created 1, updated 0, skipped 1, failed 0"
    names = sorted(c.family_name for c in db.session.scalars(select(Contact)))
    assert names == ["Müller", "Öz"]


def test_vcard_file_through_the_cli(runner, db, corpus):
    path = corpus / "roundcube" / "johndoe.vcf"

    result = runner.invoke(args=["contacts", "import", str(path)])

    assert result.exit_code == 0, result.output
    assert "vCard" in _lines(result)[0]
    assert _lines(result)[-1] == "created 1, updated 0, skipped 0, failed 0"
    assert db.session.scalar(select(Contact.family_name)) == "Doë"
