"""An import never writes to a contact its user may only view."""

from sqlalchemy import select

from crm.contacts.models import Contact
from tests.access_helpers import *  # noqa: F403  (fixtures)


def test_update_duplicates_leaves_view_only_contacts_unchanged(
    db, runner, restricted, fast_user, grant, make_contact, tmp_path
):
    owner = fast_user("owner@example.com")
    viewer = restricted("viewer@example.com", reassign_owner=False)
    vic = make_contact("Vic", "Viewonly", email="vic@example.com", owner=owner)
    grant(vic, user=viewer, level="view")
    file = tmp_path / "update.csv"
    file.write_text("Email,Job Title\nvic@example.com,HACKED\n", encoding="utf-8")

    result = runner.invoke(
        args=[
            "contacts",
            "import",
            str(file),
            "--owner",
            viewer.email,
            "--on-duplicate",
            "update",
        ]
    )

    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Contact, vic.id).job_title is None
    titles = db.session.scalars(
        select(Contact.job_title).where(Contact.primary_email == "vic@example.com")
    ).all()
    assert sorted(t or "" for t in titles) == ["", "HACKED"]
    assert result.output.strip().splitlines()[-1] == (
        "created 1, updated 0, skipped 0, failed 0"
    )


def test_update_duplicates_fills_contacts_the_user_may_edit(
    db, runner, restricted, fast_user, grant, make_contact, tmp_path
):
    owner = fast_user("owner@example.com")
    editor = restricted("editor@example.com")
    ed = make_contact("Ed", "Editable", email="ed@example.com", owner=owner)
    grant(ed, user=editor, level="edit")
    file = tmp_path / "update.csv"
    file.write_text("Email,Job Title\ned@example.com,Buyer\n", encoding="utf-8")

    result = runner.invoke(
        args=[
            "contacts",
            "import",
            str(file),
            "--owner",
            editor.email,
            "--on-duplicate",
            "update",
        ]
    )

    assert result.exit_code == 0, result.output
    db.session.expire_all()
    assert db.session.get(Contact, ed.id).job_title == "Buyer"
    assert result.output.strip().splitlines()[-1] == (
        "created 0, updated 1, skipped 0, failed 0"
    )
