import html
import re

import pytest
from sqlalchemy import func, select

from crm.core.errors import ServiceError
from crm.links import services
from crm.links.models import ContactLink, LinkType


@pytest.fixture
def spouse(db):
    link_type = LinkType(name="Spouse", max_links=1)
    db.session.add(link_type)
    db.session.commit()
    return link_type


@pytest.fixture
def assistant(db):
    link_type = LinkType(name="Assistant", max_links=2)
    db.session.add(link_type)
    db.session.commit()
    return link_type


@pytest.fixture
def jane(make_contact):
    return make_contact("Jane", "Doe", email="jane@example.com")


@pytest.fixture
def john(make_contact):
    return make_contact("John", "Roe", email="john@example.com")


def record_url(contact):
    return f"/admin/contact/details/?id={contact.id}&tab=links"


def link_count(db):
    db.session.expire_all()
    return db.session.scalar(select(func.count(ContactLink.id)))


# Services ---------------------------------------------------------------------


def test_link_is_seen_from_both_sides(db, jane, john, spouse, make_user):
    user = make_user()
    row = services.link(jane, john, spouse, user)
    db.session.commit()
    assert row.created_by_id == user.id
    assert [r.other(jane.id) for r in services.links_of(jane)] == [john]
    assert [r.other(john.id) for r in services.links_of(john)] == [jane]


@pytest.mark.parametrize("reverse", [False, True])
def test_duplicate_link_is_refused_in_either_direction(
    db, jane, john, assistant, reverse
):
    services.link(jane, john, assistant)
    db.session.commit()
    a, b = (john, jane) if reverse else (jane, john)
    with pytest.raises(ServiceError) as caught:
        services.link(a, b, assistant)
    assert caught.value.message == f"{a} and {b} are already linked as Assistant."
    db.session.rollback()
    assert link_count(db) == 1


def test_a_contact_cannot_link_to_itself(db, jane, spouse):
    with pytest.raises(ServiceError) as caught:
        services.link(jane, jane, spouse)
    assert caught.value.message == "A contact cannot be linked to itself."


def test_max_links_counts_both_directions(db, make_contact, assistant):
    boss = make_contact("Bea", "Boss")
    first, second, third = (make_contact(n, "Helper") for n in ("Al", "Bo", "Cy"))
    services.link(boss, first, assistant)
    # The second link points at the boss: it counts against the boss too.
    services.link(second, boss, assistant)
    db.session.commit()

    with pytest.raises(ServiceError) as caught:
        services.link(boss, third, assistant)
    assert caught.value.message == (
        "Bea Boss already has the most Assistant links allowed (2)."
    )
    db.session.rollback()
    assert link_count(db) == 2


def test_max_links_is_checked_on_the_other_side_too(db, make_contact, spouse):
    jane, john, jim = (make_contact(n, "Doe") for n in ("Jane", "John", "Jim"))
    services.link(jane, john, spouse)
    db.session.commit()
    with pytest.raises(ServiceError, match="John Doe already has the most Spouse"):
        services.link(jim, john, spouse)


def test_unlink_removes_the_link_for_both(db, jane, john, spouse):
    row = services.link(jane, john, spouse)
    db.session.commit()
    services.unlink(row)
    db.session.commit()
    assert services.links_of(jane) == []
    assert services.links_of(john) == []


@pytest.mark.parametrize(
    ("name", "max_links", "message"),
    [
        ("  ", 1, "A link type needs a name."),
        ("Partner", 0, "The maximum number of links must be 1 or more."),
        ("spouse", 1, "A link type named spouse already exists."),
    ],
)
def test_link_type_definition_is_checked(db, spouse, name, max_links, message):
    with pytest.raises(ServiceError) as caught:
        services.check_type(LinkType(name=name, max_links=max_links))
    assert caught.value.message == message


def test_lowering_max_links_below_existing_links_is_refused(
    db, make_contact, assistant
):
    boss = make_contact("Bea", "Boss")
    services.link(boss, make_contact("Al", "Helper"), assistant)
    services.link(make_contact("Bo", "Helper"), boss, assistant)
    db.session.commit()
    assistant.max_links = 1
    with pytest.raises(ServiceError, match="Some contacts already have 2 Assistant"):
        services.check_type(assistant)


# Admin screen -----------------------------------------------------------------


def test_admin_defines_a_link_type(web, db, login_as):
    login_as("admin")
    response = web.post(
        "/admin/link_type/new/", {"name": "Parent/Child", "max_links": "4"}
    )
    assert response.status_code == 302
    link_type = db.session.scalar(select(LinkType))
    assert (link_type.name, link_type.max_links) == ("Parent/Child", 4)


def test_link_type_with_zero_max_links_is_refused(web, db, login_as):
    login_as("admin")
    page = web.post("/admin/link_type/new/", {"name": "Partner", "max_links": "0"})
    assert page.status_code == 200
    assert "The maximum must be 1 or more." in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(LinkType.id))) == 0


def test_non_admin_cannot_define_link_types(web, db, login_as):
    login_as("user")
    assert web.get("/admin/link_type/").status_code == 403
    response = web.post("/admin/link_type/new/", {"name": "Spouse", "max_links": "1"})
    assert response.status_code == 403
    assert db.session.scalar(select(func.count(LinkType.id))) == 0


# The Linked contacts tab --------------------------------------------------------


def test_link_from_one_record_and_see_it_on_the_other(
    web, db, login_as, jane, john, spouse
):
    login_as("user")
    response = web.post(
        f"/admin/contact-links/{jane.id}/link",
        {"link_type_id": str(spouse.id), "contact2": str(john.id)},
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith(record_url(jane))
    assert link_count(db) == 1

    page = web.get(record_url(jane)).get_data(as_text=True)
    assert "John Roe linked as Spouse." in page
    assert f'href="/admin/contact/details/?id={john.id}&amp;tab=links"' in page

    other_side = web.get(record_url(john)).get_data(as_text=True)
    assert "Spouse" in other_side
    assert f'href="/admin/contact/details/?id={jane.id}&amp;tab=links"' in other_side


def test_unlink_from_the_other_side(web, db, login_as, jane, john, spouse):
    login_as("user")
    row = services.link(jane, john, spouse)
    db.session.commit()

    response = web.post(f"/admin/contact-links/{john.id}/unlink/{row.id}")
    assert response.status_code == 302
    assert link_count(db) == 0
    page = web.get(record_url(john)).get_data(as_text=True)
    assert "The link to Jane Doe was removed." in page
    assert "This contact is not linked to anyone." in page


def test_max_links_is_enforced_from_the_record(web, db, login_as, make_contact, spouse):
    login_as("user")
    jane, john, jim = (make_contact(n, "Doe") for n in ("Jane", "John", "Jim"))
    services.link(jane, john, spouse)
    db.session.commit()

    page = web.post(
        f"/admin/contact-links/{jim.id}/link",
        {"link_type_id": str(spouse.id), "contact2": str(jane.id)},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "Jane Doe already has the most Spouse links allowed (1)." in page
    assert link_count(db) == 1


@pytest.mark.parametrize("posted", ["999999", "abc", "", "-1"])
def test_crafted_post_naming_a_missing_contact_changes_nothing(
    web, db, login_as, jane, spouse, posted
):
    login_as("user")
    page = web.post(
        f"/admin/contact-links/{jane.id}/link",
        {"link_type_id": str(spouse.id), "contact2": posted},
        follow_redirects=True,
    )
    assert page.status_code == 200
    assert "Choose a contact to link from the list." in page.get_data(as_text=True)
    assert link_count(db) == 0


def test_link_with_a_missing_link_type_is_refused(web, db, login_as, jane, john):
    login_as("user")
    page = web.post(
        f"/admin/contact-links/{jane.id}/link",
        {"link_type_id": "999", "contact2": str(john.id)},
        follow_redirects=True,
    )
    assert "Choose a link type." in page.get_data(as_text=True)
    assert link_count(db) == 0


def test_link_endpoints_answer_404_for_an_unknown_contact(
    web, db, login_as, john, spouse
):
    login_as("user")
    response = web.post(
        "/admin/contact-links/999999/link",
        {"link_type_id": str(spouse.id), "contact2": str(john.id)},
    )
    assert response.status_code == 404
    assert web.post("/admin/contact-links/999999/unlink/1").status_code == 404
    assert link_count(db) == 0


def test_unlink_of_a_link_of_another_contact_is_refused(
    web, db, login_as, make_contact, spouse
):
    login_as("user")
    jane, john, jim = (make_contact(n, "Doe") for n in ("Jane", "John", "Jim"))
    row = services.link(jane, john, spouse)
    db.session.commit()
    page = web.post(
        f"/admin/contact-links/{jim.id}/unlink/{row.id}", follow_redirects=True
    )
    assert "That link does not exist any more." in page.get_data(as_text=True)
    assert link_count(db) == 1


def test_lookup_finds_contacts_by_name_or_email(web, db, login_as, jane, john):
    login_as("user")
    found = web.get(
        "/admin/contact-links/ajax/lookup/",
        query_string={"name": "contact2", "query": "JAN"},
    ).get_json()
    assert found == [[jane.id, "Jane Doe <jane@example.com>"]]
    found = web.get(
        "/admin/contact-links/ajax/lookup/",
        query_string={"name": "contact2", "query": "john@"},
    ).get_json()
    assert [row[0] for row in found] == [john.id]


@pytest.fixture
def restricted(db, web, make_user, admin_user):
    """A signed-in user who sees only the contacts they own."""
    from crm.access import services as access

    user = make_user()
    access.set_user_permissions(
        user, {"contacts": {"view_scope": "own", "edit_scope": "own"}}, admin_user
    )
    db.session.commit()
    assert web.login(user.email).status_code == 302
    return user


def test_lookup_and_link_only_reach_visible_contacts(
    web, db, restricted, make_contact, spouse
):
    mine = make_contact("Mia", "Mine", owner=restricted)
    hidden = make_contact("Jane", "Hidden", email="jane@example.com")

    found = web.get(
        "/admin/contact-links/ajax/lookup/",
        query_string={"name": "contact2", "query": "jane"},
    ).get_json()
    assert found == []

    page = web.post(
        f"/admin/contact-links/{mine.id}/link",
        {"link_type_id": str(spouse.id), "contact2": str(hidden.id)},
        follow_redirects=True,
    )
    assert "Choose a contact to link from the list." in page.get_data(as_text=True)
    assert link_count(db) == 0


def test_link_to_a_hidden_contact_shows_a_restricted_placeholder(
    web, db, restricted, make_contact, spouse
):
    mine = make_contact("Mia", "Mine", owner=restricted)
    hidden = make_contact("Jane", "Hidden")
    services.link(mine, hidden, spouse)
    db.session.commit()

    page = web.get(record_url(mine)).get_data(as_text=True)
    assert "Restricted record" in page
    assert "Hidden" not in page
    assert f"id={hidden.id}&amp;tab=links" not in page


def test_links_tab_renders_the_ajax_picker(web, login_as, jane, spouse):
    login_as("user")
    page = web.get(record_url(jane)).get_data(as_text=True)
    assert 'data-role="select2-ajax"' in page
    assert (
        f'data-url="/admin/contact-links/ajax/lookup/?name=contact2&amp;exclude={jane.id}"'
        in page
    )
    assert "Spouse (up to 1)" in page


def test_links_tab_picker_leaves_the_contact_itself_out(
    web, login_as, jane, john, spouse
):
    login_as("user")
    page = web.get(record_url(jane)).get_data(as_text=True)
    url = html.unescape(re.search(r'data-url="([^"]+lookup[^"]+)"', page)[1])

    found = web.get(url + "&query=example.com").get_json()
    assert [row[0] for row in found] == [john.id]

    found = web.get(
        "/admin/contact-links/ajax/lookup/",
        query_string={"name": "contact2", "query": "example.com"},
    ).get_json()
    assert sorted(row[0] for row in found) == sorted([jane.id, john.id])
