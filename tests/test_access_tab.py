"""The contact record's Access privileges tab: owner, grants, reassignment."""

import pytest
from sqlalchemy import select

from crm.access import policy
from crm.access.models import AuditEntry, ContactShare
from crm.contacts.models import Contact
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.access_helpers import set_contacts


@pytest.fixture
def people(db, restricted, make_team):
    u1, u2, u3 = (restricted(f"u{i}@example.com") for i in (1, 2, 3))
    team = make_team("Sales", members=[u1])
    return {"u1": u1, "u2": u2, "u3": u3, "team": team}


@pytest.fixture
def janes(make_contact, people):
    return make_contact("Jane", "Hidden", email="jane@example.com", owner=people["u2"])


def tab(web, contact):
    return web.get(f"/admin/contact/details/?id={contact.id}&tab=access")


def shares(db, contact):
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(ContactShare).where(ContactShare.contact_id == contact.id)
        )
    )


def visible_to(db, user, contact):
    query = select(Contact.id).where(
        Contact.id == contact.id, policy.scope(Contact, user)
    )
    return db.session.scalar(query) is not None


def test_owner_shares_with_a_team_and_the_tab_lists_who_granted_it(
    db, web, people, janes
):
    web.login("u2@example.com")
    page = tab(web, janes).get_data(as_text=True)
    assert 'id="share-form"' in page and "u2@example.com" in page

    response = web.post(
        "/admin/contact-access/share/",
        {"id": janes.id, "principal": f"team:{people['team'].id}", "level": "view"},
        follow_redirects=True,
    )
    text = response.get_data(as_text=True)
    assert "Access granted." in text
    assert "Team: Sales" in text and "UTC" in text
    [grant] = shares(db, janes)
    assert grant.team_id == people["team"].id and grant.granted_by_id == people["u2"].id
    assert visible_to(db, people["u1"], janes)
    assert not visible_to(db, people["u3"], janes)
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "grant.added")
    )
    assert entry.target_ids == str(janes.id) and "team Sales" in entry.details


def test_sharing_again_changes_the_level_instead_of_adding_a_grant(
    db, web, people, janes
):
    web.login("u2@example.com")
    for level in ("view", "edit"):
        web.post(
            "/admin/contact-access/share/",
            {"id": janes.id, "principal": f"user:{people['u1'].id}", "level": level},
        )
    [grant] = shares(db, janes)
    assert grant.level == "edit"
    assert visible_to(db, people["u1"], janes)


def test_owner_removes_a_grant(db, web, people, janes, grant):
    share = grant(janes, team=people["team"])
    web.login("u2@example.com")
    response = web.post(
        "/admin/contact-access/unshare/",
        {"id": janes.id, "grant_id": share.id},
        follow_redirects=True,
    )
    assert "Access removed." in response.get_data(as_text=True)
    assert shares(db, janes) == []
    assert not visible_to(db, people["u1"], janes)
    assert db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "grant.removed")
    )


def test_a_viewer_who_is_not_the_owner_cannot_change_grants(
    db, web, people, janes, grant
):
    share = grant(janes, user=people["u1"], level="edit")
    web.login("u1@example.com")
    page = tab(web, janes).get_data(as_text=True)
    assert 'id="share-form"' not in page and "Only the owner" in page
    response = web.post(
        "/admin/contact-access/share/",
        {"id": janes.id, "principal": f"user:{people['u3'].id}", "level": "edit"},
        follow_redirects=True,
    )
    assert "Only the owner or an administrator" in response.get_data(as_text=True)
    web.post("/admin/contact-access/unshare/", {"id": janes.id, "grant_id": share.id})
    assert [(s.user_id, s.level) for s in shares(db, janes)] == [
        (people["u1"].id, "edit")
    ]


@pytest.mark.parametrize("endpoint", ["share", "unshare", "reassign"])
def test_tab_endpoints_answer_404_for_a_hidden_contact(
    db, web, people, janes, endpoint
):
    web.login("u3@example.com")
    data = {
        "id": janes.id,
        "principal": f"user:{people['u3'].id}",
        "level": "edit",
        "grant_id": "1",
        "owner": str(people["u3"].id),
    }
    assert web.post(f"/admin/contact-access/{endpoint}/", data).status_code == 404
    assert shares(db, janes) == []
    assert db.session.get(Contact, janes.id).owner_id == people["u2"].id


def test_a_grant_of_another_contact_cannot_be_removed_through_this_one(
    db, web, people, janes, make_contact, grant
):
    other = make_contact("Other", "Contact", owner=people["u3"])
    foreign = grant(other, user=people["u1"])
    web.login("u2@example.com")
    response = web.post(
        "/admin/contact-access/unshare/", {"id": janes.id, "grant_id": foreign.id}
    )
    assert response.status_code == 404
    assert [s.id for s in shares(db, other)] == [foreign.id]


def test_sharing_with_an_inactive_user_or_bad_level_is_refused(db, web, people, janes):
    people["u3"].active = False
    db.session.commit()
    web.login("u2@example.com")
    for principal, level in (
        (f"user:{people['u3'].id}", "view"),
        ("user:x", "view"),
        (f"user:{people['u1'].id}", "owner"),
    ):
        response = web.post(
            "/admin/contact-access/share/",
            {"id": janes.id, "principal": principal, "level": level},
            follow_redirects=True,
        )
        assert response.status_code == 200
        assert "Access granted." not in response.get_data(as_text=True)
    assert shares(db, janes) == []


def test_reassigning_the_owner_needs_the_permission_and_is_audited(
    db, web, people, janes
):
    web.login("u2@example.com")
    set_contacts(db, people["u2"], can_reassign_owner=False)
    response = web.post(
        "/admin/contact-access/reassign/",
        {"id": janes.id, "owner": people["u1"].id},
        follow_redirects=True,
    )
    assert "may not reassign" in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, janes.id).owner_id == people["u2"].id

    set_contacts(db, people["u2"], can_reassign_owner=True)
    response = web.post(
        "/admin/contact-access/reassign/",
        {"id": janes.id, "owner": people["u1"].id},
        follow_redirects=True,
    )
    assert "Owner reassigned." in response.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Contact, janes.id).owner_id == people["u1"].id
    entry = db.session.scalar(
        select(AuditEntry).where(AuditEntry.action == "owner.reassigned")
    )
    assert entry.actor_label == "u2@example.com"
    assert entry.details == f'{{"from": {people["u2"].id}, "to": {people["u1"].id}}}'


def test_owner_change_through_any_orm_path_is_checked_for_the_signed_in_user(
    app, db, people, janes
):
    from flask_login import login_user

    from crm.core.errors import ServiceError

    set_contacts(db, people["u2"], can_reassign_owner=False)
    with app.test_request_context():
        login_user(db.session.get(type(people["u2"]), people["u2"].id))
        contact = db.session.get(Contact, janes.id)
        contact.owner_id = people["u1"].id
        with pytest.raises(ServiceError, match="may not reassign"):
            db.session.flush()
        db.session.rollback()
    db.session.expire_all()
    assert db.session.get(Contact, janes.id).owner_id == people["u2"].id


def test_administrator_manages_grants_of_any_contact(db, web, fast_user, people, janes):
    fast_user("admin@example.com", is_admin=True)
    web.login("admin@example.com")
    response = web.post(
        "/admin/contact-access/share/",
        {"id": janes.id, "principal": f"user:{people['u3'].id}", "level": "edit"},
    )
    assert response.status_code == 302
    assert visible_to(db, people["u3"], janes)
    query = select(Contact.id).where(policy.scope(Contact, people["u3"], policy.EDIT))
    assert janes.id in set(db.session.scalars(query))
