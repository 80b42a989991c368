"""Every path of the contact list, for every kind of user: the rows are the
ones the rule lets through, each page's count is exact when it says so and
never more than those rows when it is capped, and contacts the user may not
see never move it."""

import html
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from crm.access import policy
from crm.contacts import search
from crm.contacts.admin import ContactView
from crm.contacts.models import Contact
from crm.tags.models import ContactTag, Tag
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.access_helpers import set_contacts
from tests.test_contact_list_paths import count_text, shown

PAGE = 4
COUNT = re.compile(r"([\d,]+)(\+?) contacts?")
NAMES = ("Maria", "Mario", "Ann", "Zoe", "Bob")


@pytest.fixture
def many(db, fast_user, make_contact, restricted, make_team, grant):
    """Forty contacts of five owners, shared to a user, a team and by edit
    grant, carrying two tags (and a rare third) in overlapping patterns; and
    among them fourteen of a stranger's that match every path."""
    u1, u2, u3, manager = (
        restricted(f"{n}@example.com") for n in ("u1", "u2", "u3", "m")
    )
    views_all = fast_user("all@example.com")
    set_contacts(db, views_all, view_scope="all", edit_scope="own")
    stranger = fast_user("stranger@example.com")
    make_team("Sales", members=[u2], managers=[manager])
    readers = make_team("Readers", members=[u1])
    tags = [Tag(name=name) for name in ("VIP", "Cold", "Rare")]
    owners = [u1, u2, u3, stranger, None]
    hidden_ids = []
    for n in range(40):
        contact = make_contact(
            NAMES[n % 5],
            f"Family{n}",
            owner=owners[n * 3 % 5],
            email=f"p{n}@shop.example",
            phone=f"+34 600 {n:03d}",
        )
        if n % 7 == 1:
            grant(contact, user=u1)
        elif n % 7 == 2:
            grant(contact, team=readers)
        elif n % 7 == 3:
            grant(contact, user=u3, level="edit")
        if n % 2:
            contact.tag_links.append(ContactTag(tag=tags[0]))
        if n % 3:
            contact.tag_links.append(ContactTag(tag=tags[1]))
        if n % 11 == 0:
            contact.tag_links.append(ContactTag(tag=tags[2]))
        if n % 3 == 0:
            # Between the others' ids: a contact only the stranger (and who
            # sees every contact) may see, matching every path.
            hidden = make_contact(
                "Maria",
                f"Hidden{n}",
                owner=stranger,
                email=f"h{n}@shop.example",
                phone=f"+34 600 9{n:02d}",
            )
            hidden.tag_links.extend(ContactTag(tag=tag) for tag in tags)
            hidden_ids.append(hidden.id)
    db.session.commit()
    users = {"u1": u1, "u2": u2, "u3": u3, "manager": manager, "all": views_all}
    return users, tags, hidden_ids


def _paths(tags):
    vip, cold, rare = (str(tag.id) for tag in tags)
    return [
        {},
        {"sort": "0"},
        {"search": "maria"},
        {"search": "ma"},
        {"search": "+34 600"},
        {"search": "maria", "sort": "0"},
        {"flt0_tags_any_of": vip},
        {"flt0_tags_any_of": rare},
        {"flt0_tags_any_of": f"{vip},{cold}"},
        {"flt0_tags_all_of": f"{vip},{cold}"},
        {"flt0_tags_any_of": vip, "search": "mar"},
        {"flt0_tags_any_of": vip, "flt1_tags_any_of": cold},
    ]


def _visible(db, user, args):
    """The contacts the path lists, by the rule on the row and plain criteria."""
    query = select(Contact.id).where(policy.scope(Contact, user, policy.VIEW))
    if args.get("search"):
        query = query.where(search.criterion(args["search"], db.engine.dialect.name))
    for key, value in args.items():
        if not key.startswith("flt"):
            continue
        tag_ids = [int(i) for i in value.split(",")]
        # Any of: one group of all the tags; all of: a group for each tag.
        for group in [tag_ids] if "any_of" in key else [[i] for i in tag_ids]:
            links = select(ContactTag.contact_id).where(ContactTag.tag_id.in_(group))
            query = query.where(Contact.id.in_(links))
    return set(db.session.scalars(query))


def _in_list_order(db, ids, args):
    """The ids in the order the path lists them: by family name when sorted
    by the name column (every family name differs), else newest first."""
    if "sort" not in args:
        return sorted(ids, reverse=True)
    query = select(Contact.id).where(Contact.id.in_(ids)).order_by(Contact.family_name)
    return list(db.session.scalars(query))


def _every_page(web, args):
    """Every row of the list and the count each page shows, two past the end."""
    rows, counts, page = [], [], 0
    while True:
        ids, body = shown(web, page=page, **args)
        rows += ids
        counts.append(count_text(body))
        if len(ids) < PAGE:
            break
        page += 1
    # A negative page is the first, and its pager goes on from there.
    ids, body = shown(web, page=-1, **args)
    assert ids == rows[:PAGE]
    assert _pager_links(body) == (None, 1 if len(ids) == PAGE else None), args
    for past in (page + 1, page + 2, page + 50):
        ids, body = shown(web, page=past, **args)
        assert ids == []
        counts.append(count_text(body))
        # "<" leads back to a page with rows: the last one when the count
        # is exact, else the last the count proves; ">" leads nowhere.
        back, onward = _pager_links(body)
        assert onward is None, (args, past)
        back_ids, _body = shown(web, page=back, **args)
        assert back_ids or not rows, (args, past, back)
        if "+" not in counts[-1]:
            last = max(len(rows) - 1, 0) // PAGE
            assert back == last, (args, past, back)
    return rows, counts


PAGER_LINK = re.compile(
    r'<li class="page-item( disabled)?">\s*<a class="page-link" href="([^"]*)">'
    r"(&lt;|&gt;)</a>"
)


def _pager_links(body):
    """The pages "<" and ">" lead to; None for a disabled one."""
    pager = body.split('class="crm-pager"', 1)[1]
    links = {}
    for disabled, href, arrow in PAGER_LINK.findall(pager):
        query = parse_qs(urlsplit(html.unescape(href)).query)
        links[arrow] = None if disabled else int(query.get("page", ["0"])[0])
    return links["&lt;"], links["&gt;"]


@pytest.mark.parametrize("who", ["u1", "u2", "u3", "manager", "all"])
def test_every_list_path_counts_only_what_the_user_may_see(
    app, db, web, many, monkeypatch, who
):
    app.config["LIST_COUNT_CAP"] = 5
    app.config["RESTRICTED_SEARCH_COUNT_CAP"] = 3
    monkeypatch.setattr(ContactView, "page_size", PAGE)
    users, tags, hidden_ids = many
    user = users[who]
    web.login(user.email)

    seen = []
    for args in _paths(tags):
        expected = _visible(db, user, args)
        rows, counts = _every_page(web, args)
        assert sorted(rows) == sorted(expected), args
        # Page after page in the list's order, whichever way a page is read.
        assert rows == _in_list_order(db, expected, args), args
        for text in counts:
            value, capped = COUNT.fullmatch(text).groups()
            value = int(value.replace(",", ""))
            assert value <= len(expected) if capped else value == len(expected), (
                args,
                text,
            )
        seen.append(counts)
    if who == "all":
        return

    # Without the contacts the user may not see, no count moves.
    for contact_id in hidden_ids:
        db.session.delete(db.session.get(Contact, contact_id))
    db.session.commit()
    for args, counts in zip(_paths(tags), seen, strict=True):
        assert _every_page(web, args)[1] == counts, args
