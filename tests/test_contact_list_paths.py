"""The contact list's fast paths give the same rows, in the same order, as the
plain queries would: newest first through the search and tag indexes, sort by
name, and the count for everyone and for a restricted user."""

import re

import pytest

from crm.contacts import counting
from crm.contacts.admin import ContactView
from crm.tags.models import ContactTag, Tag
from tests.access_helpers import own_only, quick_user, set_contacts

ROW_LINK = re.compile(r'href="/admin/contact/details/\?id=(\d+)"')


def shown(web, **args):
    page = web.get("/admin/contact/", query_string=args).get_data(as_text=True)
    return [int(i) for i in ROW_LINK.findall(page)], page


@pytest.fixture
def people(make_contact):
    names = [("Ann", "Zeller"), ("Bob", "Adams"), ("Cleo", "Miller"), ("Dan", "Baker")]
    return [
        make_contact(given, family, email=f"{given.lower()}@shop.example")
        for given, family in names
    ]


def _tag(db, contacts, name):
    tag = Tag(name=name)
    for contact in contacts:
        contact.tag_links.append(ContactTag(tag=tag))
    db.session.commit()
    return str(tag.id)


def test_name_column_sorts_by_family_name(web, login_as, people):
    login_as("user")
    ids, _ = shown(web, sort="0")
    assert ids == [people[i].id for i in (1, 3, 2, 0)]  # Adams, Baker, Miller, Zeller
    ids, _ = shown(web, sort="0", desc="1")
    assert ids == [people[i].id for i in (0, 2, 3, 1)]


def test_search_lists_matches_newest_first(web, login_as, people):
    login_as("user")
    ids, _ = shown(web, search="shop.exa")
    assert ids == sorted((p.id for p in people), reverse=True)


def test_one_tag_lists_its_contacts_newest_first(db, web, login_as, people):
    login_as("user")
    vip = _tag(db, [people[0], people[2], people[3]], "VIP")
    ids, page = shown(web, flt0_tags_any_of=vip)
    assert ids == [people[3].id, people[2].id, people[0].id]
    assert "3 contacts" in page


def test_a_tag_name_typed_into_the_tag_box_filters_by_that_tag(
    db, web, login_as, people
):
    login_as("user")
    _tag(db, [people[0], people[2]], "VIP")
    _tag(db, [people[1]], "Cold lead")
    ids, page = shown(web, flt0_tags_any_of="vip")
    assert ids == [people[2].id, people[0].id]
    assert "Invalid Filter Value" not in page
    ids, _ = shown(web, flt0_tags_any_of="VIP,Cold lead")
    assert ids == [people[2].id, people[1].id, people[0].id]
    # A name no tag has is refused, as a bad id is.
    _ids, page = shown(web, flt0_tags_any_of="No such tag")
    assert "Invalid Filter Value" in page


def test_tag_and_search_together_keep_both_conditions(db, web, login_as, people):
    login_as("user")
    vip = _tag(db, [people[0], people[2], people[3]], "VIP")
    _tag(db, [people[2], people[3]], "Webinar")
    ids, _ = shown(web, flt0_tags_any_of=vip, search="dan@")
    assert ids == [people[3].id]
    webinar = db.session.query(Tag.id).filter_by(name="Webinar").scalar()
    ids, _ = shown(web, flt0_tags_all_of=f"{vip},{webinar}", sort="0")
    assert ids == [people[3].id, people[2].id]  # Baker, Miller


def test_count_is_exact_for_everyone_and_capped_for_a_restricted_user(
    app, db, web, make_contact, monkeypatch
):
    app.config["LIST_COUNT_CAP"] = 2
    user = own_only(db, quick_user(db, "own@example.com"))
    for n in range(3):
        make_contact("Own", f"Contact{n}", owner=user)
    make_contact("Other", "Person")

    quick_user(db, "boss@example.com", is_admin=True)
    web.login("boss@example.com")
    _, page = shown(web)
    assert "4 contacts" in page

    web.logout()
    web.login("own@example.com")
    ids, page = shown(web)
    assert len(ids) == 3
    # Past the cap, but the page that ends the list gives the exact count.
    assert "3 contacts" in page
    monkeypatch.setattr(ContactView, "page_size", 2)
    ids, page = shown(web)
    assert len(ids) == 2
    assert "2+ contacts" in page
    ids, page = shown(web, page=1)
    assert len(ids) == 1
    assert "3 contacts" in page


@pytest.mark.parametrize("term", ["searchable", "se"])
def test_a_restricted_search_is_counted_exactly_to_its_own_lower_cap(
    app, db, web, make_contact, monkeypatch, term
):
    # The user owns four of ten matches. Their search is counted exactly up
    # to RESTRICTED_SEARCH_COUNT_CAP, the administrator's up to
    # LIST_COUNT_CAP; a capped count is raised by the pages shown and exact
    # on the page that ends the list. A two-letter term (no index) is
    # counted the same way.
    app.config["LIST_COUNT_CAP"] = 6
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 2
    monkeypatch.setattr(ContactView, "page_size", 3)
    user = own_only(db, quick_user(db, "own@example.com"))
    boss = quick_user(db, "boss@example.com", is_admin=True)
    made = [
        make_contact("Searchable", f"N{n}", owner=user if n % 3 == 0 else boss)
        for n in range(10)
    ]
    make_contact("Other", "Person", owner=user)
    mine = sorted((c.id for c in made if c.owner_id == user.id), reverse=True)

    web.login("own@example.com")
    ids, page = shown(web, search=term)
    assert ids == mine[:3]
    assert "3+ contacts" in page  # counted to 2+, three shown
    ids, page = shown(web, search=term, page=1)
    assert ids == mine[3:]
    assert "4 contacts" in page

    # Contacts the user may not see never move the user's count.
    for n in range(5):
        make_contact("Searchable", f"Hidden{n}", owner=boss)
    _ids, page = shown(web, search=term, page=1)
    assert "4 contacts" in page
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 10
    _ids, page = shown(web, search=term)
    assert "4 contacts" in page

    web.logout()
    web.login("boss@example.com")
    _ids, page = shown(web, search=term)
    assert "6+ contacts" in page


COUNT_TEXT = re.compile(r'id="contact-count">\s*([^<]*?)\s*</span>')


def count_text(page):
    """The list's count as shown, e.g. "3 contacts" or "2+ contacts"."""
    return COUNT_TEXT.search(page).group(1)


@pytest.mark.parametrize(
    "who, args",
    [
        ("own", {}),
        ("own", {"search": "own"}),
        ("own", {"search": "ow"}),
        ("own", {"sort": "0"}),
        ("own", {"search": "own", "sort": "0"}),
        ("boss", {"search": "own"}),
    ],
)
def test_a_page_past_the_end_leaves_a_capped_count_as_it_was(
    app, db, web, make_contact, monkeypatch, who, args
):
    # Each user sees three matches, counted to 2 ("2+"). A page past the end
    # shows no rows, so it proves none: the count stays "2+", never the rows
    # such a page would have skipped.
    app.config["LIST_COUNT_CAP"] = 2
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 2
    monkeypatch.setattr(ContactView, "page_size", 2)
    user = own_only(db, quick_user(db, "own@example.com"))
    quick_user(db, "boss@example.com", is_admin=True)
    owner = user if who == "own" else None
    for n in range(3):
        make_contact("Own", f"Contact{n}", owner=owner)
    if who == "own":
        make_contact("Own", "Hidden")

    web.login(f"{who}@example.com")
    ids, page = shown(web, **args)
    assert len(ids) == 2
    assert count_text(page) == "2+ contacts"
    for number in (2, 3, 10**12):
        ids, page = shown(web, page=number, **args)
        assert ids == []
        assert count_text(page) == "2+ contacts"
    ids, page = shown(web, page=1, **args)
    assert len(ids) == 1
    assert count_text(page) == "3 contacts"


@pytest.mark.parametrize("who", ["admin", "views_all"])
@pytest.mark.parametrize("term", ["searchable", "se"])
def test_a_search_by_a_user_who_sees_every_contact_keeps_the_list_cap(
    app, db, web, make_contact, monkeypatch, who, term
):
    # The lower cap is for a restricted user only: an administrator, and a
    # user whose permissions let them view every contact, are counted
    # exactly up to LIST_COUNT_CAP.
    app.config["LIST_COUNT_CAP"] = 6
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 2
    monkeypatch.setattr(ContactView, "page_size", 3)
    user = quick_user(db, "all@example.com", is_admin=who == "admin")
    if who == "views_all":
        set_contacts(db, user, view_scope="all", edit_scope="own")
    other = quick_user(db, "other@example.com")
    for n in range(5):
        make_contact("Searchable", f"N{n}", owner=other)
    make_contact("Other", "Person", owner=other)

    web.login("all@example.com")
    ids, page = shown(web, search=term)
    assert len(ids) == 3
    assert count_text(page) == "5 contacts"
    for n in range(2):
        make_contact("Searchable", f"More{n}", owner=other)
    ids, page = shown(web, search=term)
    assert len(ids) == 3
    assert count_text(page) == "6+ contacts"


@pytest.mark.parametrize(
    "who, expected", [("own", "3+ contacts"), ("boss", "5 contacts")]
)
def test_a_search_of_only_spaces_is_counted_as_the_whole_list(
    app, db, web, make_contact, monkeypatch, who, expected
):
    # Spaces hold no term: the list is the whole list, and so is its count
    # (not a restricted search's lower cap, nor an administrator's capped one).
    app.config["LIST_COUNT_CAP"] = 3
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 1
    monkeypatch.setattr(ContactView, "page_size", 2)
    user = own_only(db, quick_user(db, "own@example.com"))
    quick_user(db, "boss@example.com", is_admin=True)
    for n in range(4):
        make_contact("Own", f"Contact{n}", owner=user)
    make_contact("Other", "Person")

    web.login(f"{who}@example.com")
    whole, page = shown(web)
    assert count_text(page) == expected
    for blank in (" ", "   ", "\t"):
        ids, page = shown(web, search=blank)
        assert ids == whole
        assert count_text(page) == expected


def test_a_restricted_search_cap_above_the_list_cap_is_held_to_the_list_cap(
    app, db, web, make_contact, monkeypatch
):
    app.config["LIST_COUNT_CAP"] = 2
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 10
    monkeypatch.setattr(ContactView, "page_size", 3)
    user = own_only(db, quick_user(db, "own@example.com"))
    for n in range(4):
        make_contact("Searchable", f"N{n}", owner=user)

    web.login("own@example.com")
    ids, page = shown(web, search="searchable")
    assert len(ids) == 3
    assert count_text(page) == "3+ contacts"  # counted to 2+, three shown


# Family names out of id order, so that sorting by name moves every page.
FAMILIES = ("Moss", "Abbot", "Young", "Fisher", "Cole", "Price", "Baker")


@pytest.fixture
def counted(db, make_contact):
    """Seven contacts of a restricted user, each with a hidden twin (no owner),
    all matching the search "counted" and carrying the tag VIP."""
    user = own_only(db, quick_user(db, "own@example.com"))
    tag = Tag(name="VIP")
    mine = []
    for family in FAMILIES:
        for owner in (user, None):
            contact = make_contact("Counted", family, owner=owner)
            contact.tag_links.append(ContactTag(tag=tag))
            if owner is user:
                mine.append(contact)
    db.session.commit()
    return user, str(tag.id), mine


def _page_by_page(web, **args):
    """Every row of the list, page after page, and the count the last page shows."""
    rows, page = [], 0
    while True:
        ids, body = shown(web, page=page, **args)
        rows += ids
        if len(ids) < ContactView.page_size:
            return rows, count_text(body)
        page += 1


@pytest.mark.parametrize("sort", [None, "0"])
@pytest.mark.parametrize("narrowed", ["search", "tag", "search and tag"])
def test_a_restricted_list_read_from_its_counted_ids_pages_in_list_order(
    app, web, counted, monkeypatch, narrowed, sort
):
    # The count reads all seven visible matches (under both caps), so a page
    # in the default order is read from those ids; sorted, it is not. Either
    # way the pages follow one another in the list's order, each row once.
    app.config["LIST_COUNT_CAP"] = 10
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 10
    monkeypatch.setattr(ContactView, "page_size", 3)
    user, tag, mine = counted
    args = {}
    if "search" in narrowed:
        args["search"] = "counted"
    if "tag" in narrowed:
        args["flt0_tags_any_of"] = tag
    if sort:
        args["sort"] = sort
        expected = [c.id for c in sorted(mine, key=lambda c: c.family_name)]
    else:
        expected = sorted((c.id for c in mine), reverse=True)

    web.login(user.email)
    rows, count = _page_by_page(web, **args)
    assert rows == expected
    assert count == "7 contacts"


@pytest.mark.parametrize("way", ["probe", "merge", "visible"])
def test_a_restricted_tag_list_pages_newest_first_whichever_way_it_is_counted(
    app, web, counted, monkeypatch, way
):
    # Seven visible, counted to the cap of five: the merge keeps the newest
    # six in order and the first two pages are read from them, the third
    # from the list's own query; the other ways keep no ids past the cap.
    app.config["LIST_COUNT_CAP"] = 5
    monkeypatch.setattr(ContactView, "page_size", 3)
    monkeypatch.setattr(counting, "choose", lambda *_args: way)
    user, tag, mine = counted

    web.login(user.email)
    first, body = shown(web, flt0_tags_any_of=tag)
    assert count_text(body) == "5+ contacts"
    rows, count = _page_by_page(web, flt0_tags_any_of=tag)
    assert rows == sorted((c.id for c in mine), reverse=True)
    assert rows[:3] == first
    assert count == "7 contacts"
