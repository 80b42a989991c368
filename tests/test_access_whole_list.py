"""A restricted user's whole contact list (no search, no filter) reads its rows
and its count from the user's own id lists: every page shows exactly the
visible contacts in the default order, the count says how many, and exports
still hold every visible row."""

import re

import pytest
from sqlalchemy import select, union

from crm.access import policy, rules
from crm.access.models import ContactShare, Team
from crm.access.rules import contact_id_streams
from crm.contacts.admin import ContactView
from crm.contacts.bulk import ContactData, insert_contacts
from crm.contacts.models import Contact
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.test_access_rules import visible
from tests.test_access_rules import world as world  # noqa: F401, F811  (fixture)
from tests.test_export import csv_records, export

ROW_LINK = re.compile(r'href="/admin/contact/details/\?id=(\d+)"')
PAGE = 3


@pytest.fixture
def crowded(db, world, grant, make_team):
    """Twenty more contacts among the world's, seen through every kind of way.

    U1 owns some, is granted some directly and some through a second team;
    U2 (a member of the manager's team) owns others; U3 owns the rest.
    """
    readers = db.session.scalar(select(Team).where(Team.name == "Readers"))
    second = make_team("Second readers", members=[world["u1"]])
    owners = [world["u1"], world["u2"], world["u3"], world["u3"]]
    ids = insert_contacts(
        [
            ContactData(fields={"given_name": "Crowd", "family_name": f"N{n:02}"})
            for n in range(20)
        ]
    )
    for n, contact_id in enumerate(ids):
        db.session.get(Contact, contact_id).owner_id = owners[n % 4].id
    db.session.commit()
    contacts = [db.session.get(Contact, i) for i in ids]
    for n, contact in enumerate(contacts):
        if n % 4 == 2 and n % 3 == 0:
            grant(contact, user=world["u1"])
        elif n % 4 == 3:
            grant(contact, team=second if n % 8 == 3 else readers, level="edit")
    return world


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(ContactView, "page_size", PAGE)


def _pages(web):
    """The ids of every page of the list, in order, and the first page's text."""
    shown, first, page = [], None, 0
    while True:
        body = web.get("/admin/contact/", query_string={"page": page}).get_data(
            as_text=True
        )
        first = first or body
        rows = [int(i) for i in ROW_LINK.findall(body)]
        if not rows:
            return shown, first
        assert len(rows) <= PAGE
        shown.extend(rows)
        page += 1


@pytest.mark.parametrize("who", ["u1", "u2", "u3", "manager"])
def test_every_page_shows_exactly_the_visible_contacts_newest_first(
    db, web, crowded, small_pages, who
):
    user = crowded[who]
    expected = sorted(visible(db, user), reverse=True)
    web.login(user.email)
    shown, first = _pages(web)
    assert shown == expected
    noun = "contact" if len(expected) == 1 else "contacts"
    assert re.search(rf"\b{len(expected)} {noun}\b", first)


def test_the_whole_list_count_stops_at_the_cap(app, db, web, crowded, small_pages):
    app.config["LIST_COUNT_CAP"] = 3
    user = crowded["u1"]
    assert len(visible(db, user)) > 4
    web.login(user.email)
    body = web.get("/admin/contact/").get_data(as_text=True)
    assert "3+ contacts" in body


def test_an_export_of_the_whole_list_holds_every_visible_row(
    db, web, crowded, small_pages
):
    user = crowded["u1"]
    web.login(user.email)
    response = export(web, "csv")
    assert response.status_code == 200
    exported = {int(record["Id"]) for record in csv_records(response)}
    assert exported == visible(db, user)
    assert len(exported) > PAGE


def test_a_manager_of_many_members_gets_one_arm_for_their_contacts(
    db, crowded, monkeypatch
):
    manager = crowded["manager"]
    expected = visible(db, manager)
    for arms in (0, 40):
        monkeypatch.setattr(rules, "MAX_OWNER_ARMS", arms)
        streams = contact_id_streams(manager, policy.VIEW)
        assert set(db.session.scalars(union(*streams))) == expected


@pytest.mark.parametrize("action", [policy.VIEW, policy.EDIT])
def test_grants_through_two_teams_are_both_in_the_id_lists(db, crowded, action):
    user = crowded["u1"]
    streams = contact_id_streams(user, action)
    assert set(db.session.scalars(union(*streams))) == visible(db, user, action)
    assert len(streams) >= 4  # own, direct, one arm per team


def test_a_membership_change_is_seen_by_the_next_request(db, web, crowded, make_team):
    user = crowded["u3"]
    web.login(user.email)
    before = [int(i) for i in ROW_LINK.findall(web.get("/admin/contact/").text)]
    team = make_team("Late readers", members=[user])
    db.session.add(
        ContactShare(contact_id=crowded["c1"].id, team_id=team.id, level="view")
    )
    db.session.commit()
    after = [int(i) for i in ROW_LINK.findall(web.get("/admin/contact/").text)]
    assert crowded["c1"].id not in before
    assert crowded["c1"].id in after
    assert set(after) == visible(db, user)


def test_the_id_lists_of_a_user_outside_a_request_are_read_each_time(
    db, crowded, make_team
):
    # A scheduler or CLI command keeps one application context for hours:
    # the teams are read again on every call there.
    user = crowded["u3"]
    assert rules._principals(user) == ([], [])
    team = make_team("Night shift", members=[user])
    assert rules._principals(user) == ([team.id], [])
