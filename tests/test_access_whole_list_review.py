"""Review of the restricted whole list read from the user's id lists: exports
past the row limit, users in many teams, the id rule outside a request, odd
page arguments and rule changes between requests."""

import re

import pytest
from sqlalchemy import insert, select, union

from crm.access import policy, rules
from crm.access import services as access_services
from crm.access.models import ContactShare, Team, TeamMember
from crm.access.rules import contact_criterion
from crm.contacts.admin import ContactView
from crm.contacts.models import Contact
from crm.tags.models import ContactTag, Tag
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.access_helpers import set_contacts
from tests.test_access_rules import visible
from tests.test_access_rules import world as world  # noqa: F401, F811  (fixture)
from tests.test_access_whole_list import PAGE, ROW_LINK, _pages
from tests.test_access_whole_list import crowded as crowded  # noqa: F401, F811
from tests.test_export import csv_rows, export


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(ContactView, "page_size", PAGE)


def _page(web, **args):
    response = web.get("/admin/contact/", query_string=args)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    return [int(i) for i in ROW_LINK.findall(body)], body


def test_an_export_past_the_row_limit_says_where_it_stopped(app, db, web, crowded):
    app.config["EXPORT_MAX_ROWS"] = 2
    user = crowded["u1"]
    assert len(visible(db, user)) > 2
    web.login(user.email)
    header, *rows = csv_rows(export(web, "csv"))
    assert len(rows) == 3
    assert rows[2][0].startswith("Only the first 2 contacts were exported")


def test_an_export_at_the_row_limit_has_no_note(app, db, web, crowded):
    user = crowded["u1"]
    app.config["EXPORT_MAX_ROWS"] = len(visible(db, user))
    web.login(user.email)
    _header, *rows = csv_rows(export(web, "csv"))
    assert len(rows) == len(visible(db, user))
    assert not any(row[0].startswith("Only the first") for row in rows)


# SQLite refuses a compound SELECT of more than 500 terms.
TEAMS = 520


def _join_many_teams(db, world, user):
    """``user`` joins TEAMS teams; the last one is granted c1."""
    db.session.execute(insert(Team), [{"name": f"Many {n}"} for n in range(TEAMS)])
    teams = db.session.scalars(
        select(Team.id).where(Team.name.like("Many %")).order_by(Team.id)
    ).all()
    db.session.execute(
        insert(TeamMember),
        [{"team_id": t, "user_id": user.id, "is_manager": False} for t in teams],
    )
    db.session.add(
        ContactShare(contact_id=world["c1"].id, team_id=teams[-1], level="view")
    )
    db.session.commit()


def test_a_user_in_hundreds_of_teams_gets_their_list(db, web, crowded, small_pages):
    user = crowded["u3"]
    _join_many_teams(db, crowded, user)
    expected = sorted(visible(db, user), reverse=True)
    assert crowded["c1"].id in expected
    web.login(user.email)
    shown, first = _pages(web)
    assert shown == expected
    assert re.search(rf"\b{len(expected)} contacts\b", first)


def test_the_id_rule_outside_a_request_follows_a_membership_change(
    db, crowded, make_team
):
    # A scheduler job or a CLI command keeps one application context.
    user = crowded["u3"]
    tag = Tag(name="Everyone")
    db.session.add(tag)
    for contact_id in db.session.scalars(select(Contact.id)):
        db.session.add(ContactTag(tag=tag, contact_id=contact_id))
    db.session.commit()

    def through_links():
        rule = contact_criterion(user, policy.VIEW, contact_id=ContactTag.contact_id)
        return set(
            db.session.scalars(
                select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id, rule)
            )
        )

    assert crowded["c1"].id not in through_links()
    team = make_team("Night shift", members=[user])
    db.session.add(
        ContactShare(contact_id=crowded["c1"].id, team_id=team.id, level="view")
    )
    db.session.commit()
    assert through_links() == visible(db, user)
    assert crowded["c1"].id in through_links()


@pytest.mark.parametrize(
    ("page", "first"),
    [
        ("-1", True),
        ("-7", True),
        ("junk", True),
        ("1.5", True),
        ("", True),
        ("99999999999", False),
        ("99999999999999999999", False),
    ],
)
def test_odd_page_arguments_show_the_first_page_or_none(
    db, web, crowded, small_pages, page, first
):
    user = crowded["u1"]
    web.login(user.email)
    shown, _ = _page(web, page=page)
    expected = sorted(visible(db, user), reverse=True)
    assert shown == (expected[:PAGE] if first else [])


def test_a_user_in_hundreds_of_teams_gets_a_tag_filtered_list(db, web, crowded):
    user = crowded["u3"]
    _join_many_teams(db, crowded, user)
    tag = Tag(name="Everyone")
    db.session.add(tag)
    for contact_id in db.session.scalars(select(Contact.id)):
        db.session.add(ContactTag(tag=tag, contact_id=contact_id))
    db.session.commit()
    expected = sorted(visible(db, user), reverse=True)
    web.login(user.email)
    shown, body = _page(web, flt0_tags_any_of=str(tag.id))
    assert shown == expected
    assert f"{len(expected)} contacts" in body


def test_a_page_beyond_the_end_is_empty(db, web, crowded, small_pages):
    web.login(crowded["u1"].email)
    shown, _ = _page(web, page=1000)
    assert shown == []


def _change_view_all(db, world, user):
    set_contacts(db, user, view_scope="all", edit_scope="own")


def _change_admin(db, world, user):
    user.is_admin = True
    db.session.commit()


def _change_grant_removed(db, world, user):
    share = db.session.scalar(
        select(ContactShare).where(ContactShare.user_id == user.id)
    )
    db.session.delete(share)
    db.session.commit()


def _change_owner(db, world, user):
    world["c1"].owner_id = world["u3"].id
    world["c3"].owner_id = user.id
    db.session.commit()


def _change_left_team(db, world, user):
    db.session.execute(
        TeamMember.__table__.delete().where(TeamMember.user_id == user.id)
    )
    db.session.commit()


def _change_team_deleted(db, world, user):
    readers = db.session.scalar(select(Team).where(Team.name == "Readers"))
    db.session.delete(readers)
    db.session.commit()


@pytest.mark.parametrize(
    "change",
    [
        _change_view_all,
        _change_admin,
        _change_grant_removed,
        _change_owner,
        _change_left_team,
        _change_team_deleted,
    ],
)
def test_a_rule_change_is_seen_by_the_next_request(
    db, web, crowded, small_pages, change
):
    user = crowded["u1"]
    web.login(user.email)
    before, _ = _pages(web)
    assert before == sorted(visible(db, user), reverse=True)
    change(db, crowded, user)
    expected = sorted(visible(db, user), reverse=True)
    assert expected != before
    shown, first = _pages(web)
    assert shown == expected
    assert re.search(rf"\b{len(expected)} contacts\b", first)


def test_a_deactivated_user_sees_nothing_on_the_next_request(db, web, crowded):
    user = crowded["u1"]
    web.login(user.email)
    assert _page(web)[0]
    user.active = False
    db.session.commit()
    response = web.get("/admin/contact/")
    assert response.status_code in (200, 302, 403)
    assert not ROW_LINK.findall(response.get_data(as_text=True))


@pytest.mark.parametrize("arms", [0, 1, 40])
def test_a_manager_past_the_arm_limit_sees_every_page(
    db, web, crowded, small_pages, make_team, monkeypatch, arms
):
    manager = crowded["manager"]
    # A second managed team, and the manager set again on the first.
    make_team("Field", members=[crowded["u3"]], managers=[manager])
    sales = db.session.scalar(select(Team).where(Team.name == "Sales"))
    access_services.set_member(sales, manager, is_manager=True)
    make_team("Empty")
    db.session.commit()
    monkeypatch.setattr(rules, "MAX_OWNER_ARMS", arms)
    expected = sorted(visible(db, manager), reverse=True)
    assert len(expected) > PAGE
    web.login(manager.email)
    shown, first = _pages(web)
    assert shown == expected
    assert re.search(rf"\b{len(expected)} contacts\b", first)


def test_grants_to_a_team_without_members_and_unowned_contacts_stay_hidden(
    db, web, crowded, make_team, grant, small_pages
):
    empty = make_team("Nobody")
    grant(crowded["orphan"], team=empty)
    user = crowded["u1"]
    web.login(user.email)
    shown, _ = _pages(web)
    assert crowded["orphan"].id not in shown
    assert shown == sorted(visible(db, user), reverse=True)


@pytest.mark.parametrize("action", [policy.VIEW, policy.EDIT])
@pytest.mark.parametrize("arms", [0, 1])
def test_one_arm_for_every_team_past_the_limit_holds_the_same_ids(
    db, crowded, monkeypatch, action, arms
):
    user = crowded["u1"]
    monkeypatch.setattr(rules, "MAX_TEAM_ARMS", arms)
    streams = rules.contact_id_streams(user, action)
    assert len(streams) == 3  # own, direct, every team
    assert set(db.session.scalars(union(*streams))) == visible(db, user, action)
