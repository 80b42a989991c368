"""The visibility rule: who sees and edits which contact, as one SQL criterion."""

import pytest
from sqlalchemy import select

from crm.access import policy
from crm.contacts.models import Contact, ContactEmail
from tests.access_helpers import *  # noqa: F403  (fixtures)


def visible(db, user, action=policy.VIEW):
    query = select(Contact.id).where(policy.scope(Contact, user, action))
    return set(db.session.scalars(query))


@pytest.fixture
def world(db, fast_user, make_contact, restricted, make_team, grant):
    """Owners U1, U2, U3; a manager M of U2's team; one contact each plus shares."""
    u1, u2, u3, manager = (
        restricted(f"{n}@example.com") for n in ("u1", "u2", "u3", "m")
    )
    admin = fast_user("admin@example.com", is_admin=True)
    sales = make_team("Sales", members=[u2], managers=[manager])
    readers = make_team("Readers", members=[u1])
    c1 = make_contact("One", "Owned", owner=u1)
    c2 = make_contact("Two", "Owned", owner=u2)
    c3 = make_contact("Three", "Owned", owner=u3)
    shared_to_u1 = make_contact("Shared", "Direct", owner=u3)
    shared_to_team = make_contact("Shared", "Team", owner=u3)
    edit_to_u1 = make_contact("Shared", "Editable", owner=u3)
    orphan = make_contact("No", "Owner")
    grant(shared_to_u1, user=u1)
    grant(shared_to_team, team=readers)
    grant(edit_to_u1, user=u1, level="edit")
    return {
        "u1": u1,
        "u2": u2,
        "u3": u3,
        "manager": manager,
        "admin": admin,
        "c1": c1,
        "c2": c2,
        "c3": c3,
        "direct": shared_to_u1,
        "team": shared_to_team,
        "edit": edit_to_u1,
        "orphan": orphan,
        "sales": sales,
    }


def ids(world, *names):
    return {world[n].id for n in names}


def test_owner_sees_own_and_shared_contacts(db, world):
    assert visible(db, world["u1"]) == ids(world, "c1", "direct", "team", "edit")


def test_edit_needs_ownership_or_an_edit_grant(db, world):
    assert visible(db, world["u1"], policy.EDIT) == ids(world, "c1", "edit")


def test_manager_sees_and_edits_what_team_members_own(db, world):
    assert visible(db, world["manager"]) == ids(world, "c2")
    assert visible(db, world["manager"], policy.EDIT) == ids(world, "c2")


def test_team_member_does_not_see_the_managers_or_colleagues_contacts(
    db, world, make_contact
):
    colleague = make_contact("Manager", "Owned", owner=world["manager"])
    assert colleague.id not in visible(db, world["u2"])


def test_administrator_sees_everything(db, world):
    assert visible(db, world["admin"]) == set(db.session.scalars(select(Contact.id)))


@pytest.mark.parametrize(
    ("view_scope", "edit_scope", "sees_all", "edits_all"),
    [
        ("all", "own", True, False),
        ("all", "all", True, True),
        ("own", "own", False, False),
    ],
)
def test_view_all_and_edit_all_flags(
    db, world, view_scope, edit_scope, sees_all, edits_all
):
    from tests.access_helpers import set_contacts

    set_contacts(db, world["u3"], view_scope=view_scope, edit_scope=edit_scope)
    every = set(db.session.scalars(select(Contact.id)))
    assert (visible(db, world["u3"]) == every) is sees_all
    assert (visible(db, world["u3"], policy.EDIT) == every) is edits_all


def test_inactive_user_sees_nothing(db, world):
    world["u1"].active = False
    db.session.commit()
    assert visible(db, world["u1"]) == set()


def test_children_follow_the_contact(db, world):
    world["c2"].emails.append(
        ContactEmail(address="two@example.com", normalized="two@example.com")
    )
    db.session.commit()
    rows = db.session.scalars(
        select(ContactEmail.id).where(policy.scope(ContactEmail, world["u1"]))
    )
    assert list(rows) == []
    rows = db.session.scalars(
        select(ContactEmail.id).where(policy.scope(ContactEmail, world["u2"]))
    )
    assert len(list(rows)) == 1


def test_removing_a_grant_hides_the_contact_again(db, world):
    from crm.access.models import ContactShare

    share = db.session.scalar(
        select(ContactShare).where(ContactShare.contact_id == world["direct"].id)
    )
    db.session.delete(share)
    db.session.commit()
    assert world["direct"].id not in visible(db, world["u1"])


def test_a_model_without_a_rule_is_denied(db, world):
    from sqlalchemy import Integer
    from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

    class Elsewhere(DeclarativeBase):
        pass

    class Unruled(Elsewhere):
        __tablename__ = "unruled"
        id: Mapped[int] = mapped_column(Integer, primary_key=True)

    for user in (world["admin"], world["u1"]):
        assert str(policy.scope(Unruled, user).compile()) in ("false", "0", "1 != 1")
        assert policy.allowed(user, Unruled, policy.VIEW) is False


def test_every_mapped_model_has_a_row_rule_and_an_action_rule(db):
    from crm.extensions import db as database

    models = [m.class_ for m in database.Model.registry.mappers]
    missing = [m.__name__ for m in models if not policy.has_rule(m)]
    assert missing == []
    missing = [m.__name__ for m in models if m not in policy._permissions]
    assert missing == []


def test_the_predicate_is_one_query_without_python_side_id_lists(db, world):
    sql = str(
        policy.scope(Contact, world["u1"]).compile(
            compile_kwargs={"literal_binds": True}
        )
    )
    assert "contact_shares" in sql and "team_members" in sql
    assert "IN (SELECT" in sql.upper() or "EXISTS" in sql.upper()
