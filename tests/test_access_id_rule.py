"""The visibility rule stated on an id column (a tag link, a search match) picks
exactly the contacts the rule on the contact row picks, and the list paths that
use it show a restricted user the same rows and counts."""

import re
from functools import partial

import pytest
from sqlalchemy import select, union

from crm.access import policy
from crm.access.models import ContactShare
from crm.access.rules import contact_criterion, contact_id_streams
from crm.contacts import counting
from crm.contacts.admin import ContactView, _carries_tag
from crm.tags.models import ContactTag, Tag
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.test_access_rules import ids, visible
from tests.test_access_rules import world as world  # noqa: F401, F811  (fixture)

ROW_LINK = re.compile(r'href="/admin/contact/details/\?id=(\d+)"')
CONTACTS = ("c1", "c2", "c3", "direct", "team", "edit", "orphan")


@pytest.fixture
def tagged(db, world):
    """Every contact of the world carries the tag 'Everyone'."""
    tag = Tag(name="Everyone")
    for name in CONTACTS:
        world[name].tag_links.append(ContactTag(tag=tag))
    db.session.commit()
    return tag


def _through_links(db, user, action, tag):
    links = select(ContactTag.contact_id).where(
        ContactTag.tag_id == tag.id,
        contact_criterion(user, action, contact_id=ContactTag.contact_id),
    )
    return set(db.session.scalars(links))


@pytest.mark.parametrize("who", ["u1", "u2", "u3", "manager", "admin"])
@pytest.mark.parametrize("action", [policy.VIEW, policy.EDIT])
def test_the_rule_on_a_link_column_matches_the_rule_on_the_row(
    db, world, tagged, who, action
):
    user = world[who]
    assert _through_links(db, user, action, tagged) == visible(db, user, action)


def test_the_id_rule_knows_grants_teams_and_managers(db, world, tagged):
    assert _through_links(db, world["u1"], policy.VIEW, tagged) == ids(
        world, "c1", "direct", "team", "edit"
    )
    assert _through_links(db, world["u1"], policy.EDIT, tagged) == ids(
        world, "c1", "edit"
    )
    assert _through_links(db, world["manager"], policy.VIEW, tagged) == ids(world, "c2")


def _shown(web, **args):
    page = web.get("/admin/contact/", query_string=args).get_data(as_text=True)
    return [int(i) for i in ROW_LINK.findall(page)], page


def test_a_restricted_tag_filter_shows_and_counts_only_visible_contacts(
    db, web, world, tagged
):
    web.login(world["u1"].email)
    shown, page = _shown(web, flt0_tags_any_of=str(tagged.id))
    expected = sorted(ids(world, "c1", "direct", "team", "edit"), reverse=True)
    assert shown == expected
    assert f"{len(expected)} contacts" in page


def test_a_restricted_search_shows_and_counts_only_visible_contacts(
    db, web, world, tagged
):
    web.login(world["u1"].email)
    shown, page = _shown(web, search="shared")
    expected = sorted(ids(world, "direct", "team", "edit"), reverse=True)
    assert shown == expected
    assert f"{len(expected)} contacts" in page
    # A two-letter term cannot use the index; the row rule still applies.
    shown, _page = _shown(web, search="sh")
    assert shown == expected


def test_the_capped_count_from_an_index_respects_the_rule(
    app, db, web, world, tagged, monkeypatch
):
    app.config["LIST_COUNT_CAP"] = 2
    monkeypatch.setattr(ContactView, "page_size", 2)
    web.login(world["u1"].email)
    _shown_ids, page = _shown(web, flt0_tags_any_of=str(tagged.id))
    assert "2+ contacts" in page
    web.logout()
    web.login(world["manager"].email)
    shown, page = _shown(web, flt0_tags_any_of=str(tagged.id))
    assert shown == [world["c2"].id]
    assert re.search(r"\b1 contact\b", page)


@pytest.mark.parametrize("narrowed", ["search", "tag"])
def test_a_grant_withdrawn_after_the_count_keeps_its_contact_off_the_page(
    db, web, world, tagged, monkeypatch, narrowed
):
    # The page is read by the ids the count found, with the rule still on
    # its query: a contact whose grant goes between the two is not shown.
    direct = world["direct"].id
    keep = ContactView._keep_ids
    withdrawn = []

    def keep_then_withdraw(found, cap, newest):
        keep(found, cap, newest)
        assert direct in found
        db.session.execute(
            ContactShare.__table__.delete().where(ContactShare.contact_id == direct)
        )
        db.session.commit()
        withdrawn.append(direct)

    monkeypatch.setattr(ContactView, "_keep_ids", staticmethod(keep_then_withdraw))
    web.login(world["u1"].email)
    if narrowed == "search":
        shown, _page = _shown(web, search="shared")
        expected = ids(world, "team", "edit")
    else:
        shown, _page = _shown(web, flt0_tags_any_of=str(tagged.id))
        expected = ids(world, "c1", "team", "edit")
    assert withdrawn == [direct]
    assert shown == sorted(expected, reverse=True)


@pytest.mark.parametrize("who", ["u1", "u2", "u3", "manager"])
@pytest.mark.parametrize("action", [policy.VIEW, policy.EDIT])
def test_the_id_streams_hold_exactly_the_contacts_the_rule_selects(
    db, world, who, action
):
    user = world[who]
    streams = contact_id_streams(user, action)
    assert set(db.session.scalars(union(*streams))) == visible(db, user, action)


def test_a_user_who_sees_every_contact_has_no_id_streams(db, world):
    assert contact_id_streams(world["admin"], policy.VIEW) is None


def _count(db, user, tag, cap, way=None, action=policy.VIEW):
    matches = select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)
    found, _newest = counting.capped_ids(
        matches,
        partial(contact_id_streams, user, action),
        lambda column: contact_criterion(user, action, contact_id=column),
        partial(_carries_tag, tag.id),
        cap,
        way=way,
    )
    return len(found)


@pytest.mark.parametrize("way", ["probe", "merge", "visible"])
@pytest.mark.parametrize("who", ["u1", "u2", "u3", "manager"])
@pytest.mark.parametrize("action", [policy.VIEW, policy.EDIT])
def test_every_way_of_counting_counts_the_visible_tagged_contacts(
    db, world, tagged, way, who, action
):
    user = world[who]
    expected = len(visible(db, user, action))
    assert _count(db, user, tagged, 100, way, action) == expected
    # Capped: it stops at the cap plus one.
    assert _count(db, user, tagged, 1, way, action) == min(expected, 2)


def test_a_contact_both_owned_and_granted_is_counted_once(db, world, tagged, grant):
    grant(world["c1"], user=world["u1"])
    for way in ("probe", "merge", "visible"):
        assert _count(db, world["u1"], tagged, 100, way) == 4


@pytest.fixture
def crowd(db, make_contact, restricted):
    """60 contacts with the tag 'Crowd': 58 owned by the owner, 2 by the loner."""
    owner, loner = restricted("owner@example.com"), restricted("loner@example.com")
    tag = Tag(name="Crowd")
    for n in range(60):
        contact = make_contact(
            "Crowd", f"Member {n}", owner=loner if n in (7, 40) else owner
        )
        contact.tag_links.append(ContactTag(tag=tag))
    db.session.commit()
    return owner, loner, tag


def _choice(db, user, tag, cap):
    matches = select(ContactTag.contact_id).where(ContactTag.tag_id == tag.id)
    streams = partial(contact_id_streams, user, policy.VIEW)
    return counting.choose(matches, streams, cap)


def test_the_count_is_driven_from_the_cheaper_side(db, crowd):
    owner, loner, tag = crowd
    if db.engine.dialect.name != "sqlite":
        # The merge is SQLite's; PostgreSQL's planner gets the probe form.
        assert _choice(db, loner, tag, 5) == "probe"
        return
    # Fewer matches than the cap: test each one.
    assert _choice(db, owner, tag, 100) == "probe"
    # Two visible among sixty tagged: look the two up among the tag's links.
    assert _choice(db, loner, tag, 5) == "visible"
    # Both sides large: merge them.
    assert _choice(db, owner, tag, 5) == "merge"
    assert _count(db, loner, tag, 5) == 2
    assert _count(db, owner, tag, 5) == 6


def test_merged_counts_of_two_users_and_tags_keep_their_own_values(db, crowd, world):
    owner, loner, crowd_tag = crowd
    other = Tag(name="Few")
    world["c1"].tag_links.append(ContactTag(tag=other))
    db.session.commit()
    # The same statement shape with other values: each count is its own.
    assert _count(db, owner, crowd_tag, 5, "merge") == 6
    assert _count(db, loner, crowd_tag, 5, "merge") == 2
    assert _count(db, loner, crowd_tag, 1, "merge") == 2
    assert _count(db, owner, other, 5, "merge") == 0
    assert _count(db, world["u1"], other, 5, "merge") == 1
