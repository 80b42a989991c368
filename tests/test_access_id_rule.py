"""The visibility rule stated on an id column (a tag link, a search match) picks
exactly the contacts the rule on the contact row picks, and the list paths that
use it show a restricted user the same rows and counts."""

import re

import pytest
from sqlalchemy import select

from crm.access import policy
from crm.access.rules import contact_criterion
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


def test_the_capped_count_from_an_index_respects_the_rule(app, db, web, world, tagged):
    app.config["LIST_COUNT_CAP"] = 2
    web.login(world["u1"].email)
    _shown_ids, page = _shown(web, flt0_tags_any_of=str(tagged.id))
    assert "2+ contacts" in page
    web.logout()
    web.login(world["manager"].email)
    shown, page = _shown(web, flt0_tags_any_of=str(tagged.id))
    assert shown == [world["c2"].id]
    assert re.search(r"\b1 contact\b", page)
