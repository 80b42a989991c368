"""Owner columns in imported files, and our own CSV export read back in."""

import unicodedata

import pytest
from sqlalchemy import select

from crm.contacts.models import Contact, ContactEmail
from crm.imports import engine, presets
from crm.imports.csvfile import restore_cell
from crm.imports.rows import WARNING
from tests.access_helpers import quick_user, set_contacts


def _import(db, text, actor, owner=None, **options):
    result = engine.run(
        text.encode("utf-8"),
        actor=actor,
        owner=owner,
        options=engine.ImportOptions(**options),
    )
    db.session.commit()
    db.session.expire_all()
    return result


def _contact(db, given):
    return db.session.scalar(select(Contact).where(Contact.given_name == given))


def _messages(result):
    return [(p.row, p.column, p.message, p.level) for p in result.problems]


@pytest.fixture
def actor(db):
    return quick_user(db, "ann@example.com", name="Ann Actor")


@pytest.fixture
def bob(db):
    return quick_user(db, "bob@example.com", name="Bob Builder")


@pytest.mark.parametrize("header", ["Owner", "Owner E-mail", "Owner Email"])
@pytest.mark.parametrize("preset", [None, "keap", "outlook", "salesforce"])
def test_owner_column_naming_a_user_by_email_sets_the_owner(
    db, actor, bob, header, preset
):
    text = f"First Name,Email,{header}\nJane,jane@example.com, Bob@Example.COM \n"

    result = _import(db, text, actor, preset=preset)

    assert result.created == 1 and result.problems == []
    assert _contact(db, "Jane").owner_id == bob.id


def test_owner_column_naming_a_user_by_display_name_sets_the_owner(db, actor):
    jose = quick_user(db, "jose@example.com", name="José Núñez")
    nfd = unicodedata.normalize("NFD", "José Núñez")
    text = f"First Name,Owner\nJane,  {nfd} \nJohn,Ann Actor\n"

    result = _import(db, text, actor)

    assert result.created == 2 and result.problems == []
    assert _contact(db, "Jane").owner_id == jose.id
    assert _contact(db, "John").owner_id == actor.id


def test_blank_owner_cell_leaves_the_default_owner(db, actor, bob):
    result = _import(db, "First Name,Owner\nJane,\n", actor, owner=bob)

    assert result.problems == []
    assert _contact(db, "Jane").owner_id == bob.id


def test_unknown_owner_is_a_row_warning_and_the_contact_gets_the_default_owner(
    runner, db, actor, tmp_path
):
    path = tmp_path / "owners.csv"
    path.write_text("First Name,Owner\nJane,Nobody Known\n", encoding="utf-8")

    result = runner.invoke(
        args=["contacts", "import", str(path), "--owner", actor.email]
    )

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        "row 2, column Owner: no user named 'Nobody Known'; "
        "the contact is owned by Ann Actor"
    ) in lines
    assert lines[-1] == "created 1, updated 0, skipped 0, failed 0"
    db.session.expire_all()
    assert _contact(db, "Jane").owner_id == actor.id


def test_unknown_owner_without_a_default_owner_imports_the_contact_unowned(db):
    result = _import(db, "First Name,Owner\nJane,nobody@example.com\n", None)

    assert _messages(result) == [
        (
            2,
            "Owner",
            "no user named 'nobody@example.com'; the contact has no owner",
            WARNING,
        )
    ]
    assert _contact(db, "Jane").owner_id is None


def test_deactivated_owner_is_a_row_warning(db, actor, bob):
    bob.active = False
    db.session.commit()

    result = _import(db, "First Name,Owner\nJane,bob@example.com\n", actor)

    assert _messages(result) == [
        (
            2,
            "Owner",
            "the user 'bob@example.com' is deactivated; "
            "the contact is owned by Ann Actor",
            WARNING,
        )
    ]
    assert _contact(db, "Jane").owner_id == actor.id


def test_owner_column_without_the_reassign_permission_keeps_the_default_owner(
    db, actor, bob
):
    set_contacts(db, actor, can_reassign_owner=False)
    text = "First Name,Owner\nJane,bob@example.com\nJohn,ann@example.com\n"

    result = _import(db, text, actor)

    assert result.created == 2
    assert _messages(result) == [
        (
            2,
            "Owner",
            "you may not give contacts to another user ('bob@example.com'); "
            "the contact is owned by Ann Actor",
            WARNING,
        )
    ]
    assert _contact(db, "Jane").owner_id == actor.id
    assert _contact(db, "John").owner_id == actor.id


def test_dry_run_reports_owner_problems_and_writes_nothing(db, actor):
    result = _import(db, "First Name,Owner\nJane,Nobody\n", actor, dry_run=True)

    assert [p.message for p in result.problems] == [
        "no user named 'Nobody'; the contact is owned by Ann Actor"
    ]
    assert result.created == 1 and _contact(db, "Jane") is None


@pytest.mark.parametrize("preset", ["keap", "google", "outlook", "salesforce"])
def test_owner_columns_are_never_mapped_to_an_email_slot(db, preset):
    headers = [
        "First Name",
        "Email",
        "Owner",
        "Owner E-mail",
        "Owner Email",
        "Account Owner Email",
        "OwnerId",
    ]
    row = ["Jane", "jane@example.com"] + ["bob@example.com"] * 5

    mapping = presets.auto_mapping(headers, preset, [row] * 3)

    owner_keys = mapping[2:]
    assert not [key for key in owner_keys if key.startswith("email")]
    assert mapping[2:5] == ["owner", "owner", "owner"]
    assert mapping[5:] == ["", ""]


def test_imported_owner_address_is_not_stored_as_a_contact_email(db, actor, bob):
    text = (
        "First Name,Email,Owner,Account Owner Email\n"
        "Jane,jane@example.com,bob@example.com,bob@example.com\n"
    )

    _import(db, text, actor)

    jane = _contact(db, "Jane")
    assert [e.address for e in jane.emails] == ["jane@example.com"]
    assert jane.owner_id == bob.id
    stored = db.session.scalars(select(ContactEmail.normalized)).all()
    assert "bob@example.com" not in stored


@pytest.mark.parametrize(
    "cell, restored",
    [
        ("'=SUM(A1)", "=SUM(A1)"),
        ("'+49 221 9999123", "+49 221 9999123"),
        ("'-5", "-5"),
        ("'@home", "@home"),
        ("'\tTabbed", "\tTabbed"),
        ("'\rReturn", "\rReturn"),
        ("''+1", "''+1"),
        ("'quoted'", "'quoted'"),
        ("'", "'"),
        ("O'Brien", "O'Brien"),
    ],
)
def test_restore_cell_takes_off_only_the_apostrophe_the_export_added(cell, restored):
    assert restore_cell(cell) == restored


def _snapshot(db):
    """Per contact (by first name): its phones and its owner's e-mail."""
    db.session.expire_all()
    contacts = db.session.scalars(select(Contact).order_by(Contact.given_name))
    return {
        c.given_name: (
            c.family_name,
            [(p.number, p.type) for p in c.phones],
            [f.number for f in c.faxes],
            c.owner.email if c.owner else None,
        )
        for c in contacts
    }


def test_csv_export_imported_into_a_fresh_database_keeps_phones_and_owners(
    app, app_config, db, runner, make_contact, database_template, tmp_path
):
    from crm import create_app
    from crm.contacts import services as contact_services
    from crm.contacts.models import ContactPhone

    olga = quick_user(db, "olga@example.com", name="Olga Owner")
    bob = quick_user(db, "bob@example.com", name="Bob Builder")
    jane = make_contact(
        "Jane", "=Doe", email="jane@example.com", phone="+49 221 9999123", owner=olga
    )
    jane.phones.append(
        ContactPhone(kind="phone", slot=2, number="-212 555 0100", type="Work")
    )
    jane.faxes.append(ContactPhone(kind="fax", slot=1, number="+1 212 555 0199"))
    contact_services.prepare(jane, olga)
    db.session.commit()
    make_contact("John", "@Roe", phone="+44 20 7946 0000", owner=bob)
    make_contact("Kim", "Lee", phone="(212) 555-0123")
    before = _snapshot(db)

    exported = runner.invoke(args=["contacts", "export", "--format", "csv"])
    assert exported.exit_code == 0, exported.output
    path = tmp_path / "export.csv"
    path.write_bytes(exported.stdout_bytes)
    assert "'+49 221 9999123" in path.read_text(encoding="utf-8-sig")

    url, drop = database_template.new()
    fresh = create_app({**app_config, "DATABASE_URL": url})
    try:
        with fresh.app_context():
            # Other ids than in the first database: owners match by e-mail.
            quick_user(db, "someone@example.com")
            quick_user(db, "bob@example.com", name="Bob Builder")
            quick_user(db, "olga@example.com", name="Olga Owner")

            result = fresh.test_cli_runner().invoke(
                args=["contacts", "import", str(path)]
            )

            assert result.exit_code == 0, result.output
            assert result.stdout.splitlines()[-1] == (
                "created 3, updated 0, skipped 0, failed 0"
            )
            assert "row " not in result.stdout
            assert _snapshot(db) == before
            db.session.remove()
            db.engine.dispose()
    finally:
        drop()
