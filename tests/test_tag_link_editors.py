"""The Tags and Linked contacts editors: inline rows applied through the services."""

import html
import re

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.core.admin import STALE_MESSAGE
from crm.links import services as link_services
from crm.links.models import ContactLink, LinkType
from crm.tags import services as tag_services
from crm.tags.models import ContactTag, Tag
from tests.access_helpers import own_only
from tests.record_helpers import edit_url, open_form, read_form, reload, save, sign_in


@pytest.fixture
def user(web, db):
    return sign_in(web, db, "uma@example.com")


@pytest.fixture
def jane(make_contact, user):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=user)


@pytest.fixture
def john(make_contact, user):
    return make_contact("John", "Roe", email="john@example.com", owner=user)


@pytest.fixture
def tags(db):
    made = {name: Tag(name=name) for name in ("Webinar", "Customer", "VIP")}
    db.session.add_all(made.values())
    db.session.commit()
    return made


@pytest.fixture
def spouse(db):
    link_type = LinkType(name="Spouse", max_links=1)
    db.session.add(link_type)
    db.session.commit()
    return link_type


@pytest.fixture
def signals():
    """The tag signals sent during the test, as (event, contact id, tag name)."""
    seen = []

    def on_applied(contact, tag, actor):
        seen.append(("applied", contact.id, tag.name))

    def on_removed(contact, tag, actor):
        seen.append(("removed", contact.id, tag.name))

    tag_services.tag_applied.connect(on_applied)
    tag_services.tag_removed.connect(on_removed)
    yield seen
    tag_services.tag_applied.disconnect(on_applied)
    tag_services.tag_removed.disconnect(on_removed)


def applied(db, contact):
    db.session.expire_all()
    rows = db.session.scalars(
        select(ContactTag).where(ContactTag.contact_id == contact.id)
    )
    return {row.tag.name: row for row in rows}


def links(db):
    db.session.expire_all()
    rows = db.session.scalars(select(ContactLink).order_by(ContactLink.id))
    return [(row.contact1_id, row.link_type.name, row.contact2_id) for row in rows]


def text(response) -> str:
    return response.get_data(as_text=True)


# Tags -------------------------------------------------------------------------


def test_tags_tab_has_an_edit_button_to_the_editor(web, jane):
    page = text(web.get(f"/admin/contact/details/?id={jane.id}&tab=tags"))
    assert f'href="/admin/contact_tags/edit/?id={jane.id}"' in page
    assert 'id="apply-tag"' in page


def test_adding_tag_rows_applies_the_tags_through_the_service(
    web, db, jane, user, tags, signals
):
    url = edit_url("tags", jane.id)
    fields = open_form(web, url)
    assert "tag_links-0-tag" not in fields

    response = save(
        web,
        url,
        fields,
        **{
            "tag_links-0-tag": str(tags["Webinar"].id),
            "tag_links-1-tag": str(tags["VIP"].id),
        },
    )
    assert response.request.path == "/admin/contact/details/"
    assert "Tags saved." in text(response)

    rows = applied(db, jane)
    assert set(rows) == {"Webinar", "VIP"}
    assert rows["Webinar"].applied_by_id == user.id
    assert rows["Webinar"].applied_at is not None
    assert sorted(signals) == [
        ("applied", jane.id, "VIP"),
        ("applied", jane.id, "Webinar"),
    ]


def test_existing_tags_show_their_applied_time_read_only(web, db, jane, user, tags):
    tag_services.apply_tag(jane, tags["Customer"], user)
    db.session.commit()
    when = applied(db, jane)["Customer"].applied_at

    page = text(web.get(edit_url("tags", jane.id)))
    fields = read_form(page)
    assert fields["tag_links-0-tag"] == str(tags["Customer"].id)
    assert fields["tag_links-0-id"] == str(tags["Customer"].id)
    assert "tag_links-0-applied_at" not in fields
    assert when.strftime("%Y-%m-%d %H:%M UTC") in page
    assert 'name="del-tag_links-0"' in page


def test_removing_a_tag_row_removes_the_tag_and_keeps_the_others(
    web, db, jane, user, tags, signals
):
    tag_services.apply_tag(jane, tags["Customer"], user)
    tag_services.apply_tag(jane, tags["Webinar"], user)
    db.session.commit()
    first_applied = applied(db, jane)["Webinar"].applied_at
    signals.clear()

    url = edit_url("tags", jane.id)
    fields = open_form(web, url)
    removed = next(
        key.rsplit("-", 1)[0]
        for key, value in fields.items()
        if key.endswith("-tag") and value == str(tags["Customer"].id)
    )
    response = save(web, url, fields, **{f"del-{removed}": "y"})
    assert "Tags saved." in text(response)

    rows = applied(db, jane)
    assert set(rows) == {"Webinar"}
    assert rows["Webinar"].applied_at == first_applied
    assert signals == [("removed", jane.id, "Customer")]


def test_an_unknown_tag_id_is_refused_and_nothing_changes(web, db, jane, tags):
    url = edit_url("tags", jane.id)
    response = save(
        web,
        url,
        open_form(web, url),
        **{"tag_links-0-tag": "999999", "tag_links-1-tag": str(tags["VIP"].id)},
    )
    assert response.request.path == "/admin/contact_tags/edit/"
    assert "Choose a tag from the list." in text(response)
    assert applied(db, jane) == {}


def test_a_blank_new_tag_row_is_ignored(web, db, jane, tags):
    url = edit_url("tags", jane.id)
    response = save(web, url, open_form(web, url), **{"tag_links-0-tag": ""})
    assert "Tags saved." in text(response)
    assert applied(db, jane) == {}


def test_a_stale_tags_form_is_refused_and_keeps_the_other_save(
    web, db, jane, user, tags
):
    url = edit_url("tags", jane.id)
    stale = open_form(web, url)
    save(web, url, open_form(web, url), **{"tag_links-0-tag": str(tags["VIP"].id)})

    response = save(web, url, stale, **{"tag_links-0-tag": str(tags["Webinar"].id)})
    assert response.request.path == "/admin/contact_tags/edit/"
    assert STALE_MESSAGE.split(":")[0].replace("'", "&#39;") in text(response)
    assert set(applied(db, jane)) == {"VIP"}


STALE = STALE_MESSAGE.split(":")[0].replace("'", "&#39;")


def change_tags_elsewhere(web, db, contact, how, tags):
    """Change the contact's tags by a path other than the editor, as someone else."""
    vip, customer = tags["VIP"], tags["Customer"]
    if how == "quick apply":
        web.post(f"/admin/tags-of/{contact.id}/apply", {"tag_id": str(vip.id)})
    elif how == "quick remove":
        web.post(f"/admin/tags-of/{contact.id}/remove/{customer.id}")
    elif how == "automation apply":
        tag_services.apply_tag(contact, vip, via="sequence:1")
    elif how == "automation remove":
        tag_services.remove_tag(contact, customer)
    db.session.commit()


@pytest.mark.parametrize(
    ("how", "after"),
    [
        ("quick apply", {"Customer", "VIP"}),
        ("quick remove", set()),
        ("automation apply", {"Customer", "VIP"}),
        ("automation remove", set()),
    ],
)
def test_a_tags_form_opened_before_another_tag_change_stays_refused_until_reloaded(
    web, db, jane, user, tags, signals, how, after
):
    tag_services.apply_tag(jane, tags["Customer"], user)
    db.session.commit()
    url = edit_url("tags", jane.id)
    stale = open_form(web, url)
    # B adds Webinar to the form opened before the change.
    stale["tag_links-1-tag"] = str(tags["Webinar"].id)

    change_tags_elsewhere(web, db, jane, how, tags)
    assert set(applied(db, jane)) == after
    signals.clear()

    response = save(web, url, stale)
    page = text(response)
    assert response.request.path == "/admin/contact_tags/edit/"
    assert STALE in page
    assert "Tags saved." not in page
    assert set(applied(db, jane)) == after
    assert signals == []
    # B's choice is still in the form shown again, and saving it again is refused.
    again = read_form(page)
    assert again["tag_links-1-tag"] == str(tags["Webinar"].id)
    response = save(web, url, again)
    assert STALE in text(response)
    assert set(applied(db, jane)) == after

    reloaded = open_form(web, url)
    reloaded[f"tag_links-{len(after)}-tag"] = str(tags["Webinar"].id)
    assert "Tags saved." in text(save(web, url, reloaded))
    assert set(applied(db, jane)) == after | {"Webinar"}


def test_a_tags_form_opened_after_the_change_saves(web, db, jane, user, tags):
    url = edit_url("tags", jane.id)
    change_tags_elsewhere(web, db, jane, "quick apply", tags)
    fields = open_form(web, url)
    assert fields["opened_with"] == str(tags["VIP"].id)
    response = save(web, url, fields, **{"tag_links-1-tag": str(tags["Webinar"].id)})
    assert "Tags saved." in text(response)
    assert set(applied(db, jane)) == {"VIP", "Webinar"}


@pytest.mark.parametrize("opened_with", [None, "", "x", "1 2 3"])
def test_a_tags_post_without_the_tags_it_was_opened_with_is_refused(
    web, db, jane, user, tags, opened_with
):
    url = edit_url("tags", jane.id)
    fields = open_form(web, url)
    response = save(
        web,
        url,
        fields,
        opened_with=opened_with,
        **{"tag_links-0-tag": str(tags["VIP"].id)},
    )
    if opened_with == "":  # what the form of a contact without tags carries
        assert "Tags saved." in text(response)
        return
    assert STALE in text(response)
    assert applied(db, jane) == {}


def test_tag_lookup_answers_with_matching_tags(web, user, tags):
    found = web.get(
        "/admin/contact_tags/ajax/lookup/",
        query_string={"name": "contacttag-tag", "query": "web"},
    ).get_json()
    assert found == [[tags["Webinar"].id, "Webinar"]]


# Links ------------------------------------------------------------------------


def test_links_tab_has_an_edit_button_to_the_editor(web, jane, spouse):
    page = text(web.get(f"/admin/contact/details/?id={jane.id}&tab=links"))
    assert f'href="/admin/contact_links/edit/?id={jane.id}"' in page
    assert 'id="link-contact"' in page


def test_link_editor_picker_leaves_the_contact_itself_out(web, jane, john, spouse):
    # The new-row template is held escaped in the page: unescape it first.
    page = html.unescape(text(web.get(edit_url("links", jane.id))))
    attributes = re.findall(r'data-url="([^"]*ajax/lookup/[^"]*)"', page)
    urls = {html.unescape(url) for url in attributes}

    assert urls and all(f"exclude={jane.id}" in url for url in urls)
    for url in urls:
        found = web.get(url + "&query=example.com").get_json()
        assert [row[0] for row in found] == [john.id]


def test_adding_a_link_row_links_the_contacts(web, db, jane, john, user, spouse):
    found = web.get(
        "/admin/contact_links/ajax/lookup/",
        query_string={"name": "contactlink-contact2", "query": "roe"},
    ).get_json()
    assert found == [[john.id, "John Roe <john@example.com>"]]

    url = edit_url("links", jane.id)
    page = text(web.get(url))
    response = save(
        web,
        url,
        read_form(page),
        **{
            "links_out-0-link_type": str(spouse.id),
            "links_out-0-contact2": str(john.id),
        },
    )
    assert "Links saved." in text(response)
    assert links(db) == [(jane.id, "Spouse", john.id)]
    row = db.session.scalar(select(ContactLink))
    assert row.created_by_id == user.id


def test_removing_a_link_row_unlinks_and_replacing_it_respects_the_limit(
    web, db, make_contact, jane, john, user, spouse
):
    link_services.link(jane, john, spouse, user)
    db.session.commit()
    jim = make_contact("Jim", "Poe", owner=user)

    url = edit_url("links", jane.id)
    fields = open_form(web, url)
    assert fields["links_out-0-contact2"] == str(john.id)
    # The one spouse link is replaced in one save: unlinked before linked.
    response = save(web, url, fields, **{"links_out-0-contact2": str(jim.id)})
    assert "Links saved." in text(response)
    assert links(db) == [(jane.id, "Spouse", jim.id)]

    response = save(web, url, open_form(web, url), **{"del-links_out-0": "y"})
    assert "Links saved." in text(response)
    assert links(db) == []


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("self", "A contact cannot be linked to itself."),
        ("reverse", "Jane Doe and John Roe are already linked as Spouse."),
        ("limit", "Jane Doe already has the most Spouse links allowed (1)."),
        ("twice", "Jane Doe and Jim Poe are already linked as Spouse."),
    ],
)
def test_link_rules_are_refused_with_a_message_and_nothing_is_saved(
    web, db, make_contact, jane, john, user, spouse, case, message
):
    jim = make_contact("Jim", "Poe", owner=user)
    if case == "reverse":
        link_services.link(john, jane, spouse, user)
    if case == "limit":
        link_services.link(jane, jim, spouse, user)
    if case == "twice":
        spouse.max_links = 2
    db.session.commit()
    before = links(db)

    url = edit_url("links", jane.id)
    fields = open_form(web, url)
    start = sum(1 for key in fields if key.endswith("-contact2"))
    others = {"self": [jane], "reverse": [john], "limit": [john], "twice": [jim, jim]}
    for offset, other in enumerate(others[case]):
        fields[f"links_out-{start + offset}-link_type"] = str(spouse.id)
        fields[f"links_out-{start + offset}-contact2"] = str(other.id)
    response = save(web, url, fields)

    assert response.request.path == "/admin/contact_links/edit/"
    assert message in text(response)
    assert links(db) == before


def test_a_rule_broken_after_an_unlink_saves_neither(
    web, db, make_contact, jane, john, user, spouse
):
    link_services.link(jane, john, spouse, user)
    db.session.commit()

    url = edit_url("links", jane.id)
    # Removing John's row and linking Jane to herself in the same save.
    response = save(
        web,
        url,
        open_form(web, url),
        **{
            "del-links_out-0": "y",
            "links_out-1-link_type": str(spouse.id),
            "links_out-1-contact2": str(jane.id),
        },
    )
    assert "A contact cannot be linked to itself." in text(response)
    assert links(db) == [(jane.id, "Spouse", john.id)]


def test_links_to_this_contact_are_listed_read_only(web, db, jane, john, user, spouse):
    link_services.link(john, jane, spouse, user)
    db.session.commit()

    page = text(web.get(edit_url("links", jane.id)))
    fields = read_form(page)
    assert not any(key.startswith("links_out-0") for key in fields)
    assert 'id="other-links"' in page
    assert "John Roe" in page
    assert f'href="/admin/contact/details/?id={jane.id}&amp;tab=links"' in page

    # Saving the editor leaves the link made from John alone.
    save(web, edit_url("links", jane.id), fields)
    assert links(db) == [(john.id, "Spouse", jane.id)]


def test_a_stale_links_form_is_refused(web, db, make_contact, jane, john, spouse):
    spouse.max_links = 2
    db.session.commit()
    url = edit_url("links", jane.id)
    stale = open_form(web, url)
    save(
        web,
        url,
        open_form(web, url),
        **{
            "links_out-0-link_type": str(spouse.id),
            "links_out-0-contact2": str(john.id),
        },
    )

    response = save(web, url, stale, **{"del-links_out-0": None})
    assert STALE_MESSAGE.split(":")[0].replace("'", "&#39;") in text(response)
    assert links(db) == [(jane.id, "Spouse", john.id)]


@pytest.fixture
def colleague(db):
    link_type = LinkType(name="Colleague", max_links=5)
    db.session.add(link_type)
    db.session.commit()
    return link_type


def quick_link(web, contact, other, link_type):
    return web.post(
        f"/admin/contact-links/{contact.id}/link",
        {"link_type_id": str(link_type.id), "contact2": str(other.id)},
    )


@pytest.mark.parametrize("how", ["quick link", "unlink from the other side"])
def test_a_links_form_opened_before_another_link_change_stays_refused_until_reloaded(
    web, db, make_contact, jane, john, user, colleague, how
):
    jim = make_contact("Jim", "Poe", owner=user)
    if how == "unlink from the other side":
        link_services.link(jane, john, colleague, user)
        db.session.commit()
    url = edit_url("links", jane.id)
    stale = open_form(web, url)
    row = sum(1 for key in stale if key.endswith("-contact2"))
    stale[f"links_out-{row}-link_type"] = str(colleague.id)
    stale[f"links_out-{row}-contact2"] = str(jim.id)

    if how == "quick link":
        quick_link(web, jane, john, colleague)
    else:
        [link] = db.session.scalars(select(ContactLink)).all()
        web.post(f"/admin/contact-links/{john.id}/unlink/{link.id}")
    after = links(db)
    assert after == ([(jane.id, "Colleague", john.id)] if how == "quick link" else [])

    response = save(web, url, stale)
    page = text(response)
    assert response.request.path == "/admin/contact_links/edit/"
    assert STALE in page
    assert links(db) == after
    again = read_form(page)
    assert again[f"links_out-{row}-contact2"] == str(jim.id)
    assert STALE in text(save(web, url, again))
    assert links(db) == after

    reloaded = open_form(web, url)
    row = sum(1 for key in reloaded if key.endswith("-contact2"))
    response = save(
        web,
        url,
        reloaded,
        **{
            f"links_out-{row}-link_type": str(colleague.id),
            f"links_out-{row}-contact2": str(jim.id),
        },
    )
    assert "Links saved." in text(response)
    assert links(db) == after + [(jane.id, "Colleague", jim.id)]


def test_a_link_made_to_this_contact_leaves_its_open_links_form_valid(
    web, db, jane, john, user, colleague
):
    url = edit_url("links", jane.id)
    fields = open_form(web, url)
    quick_link(web, john, jane, colleague)

    response = save(
        web,
        url,
        fields,
        **{"links_out-0-link_type": str(colleague.id), "links_out-0-contact2": ""},
    )
    assert "Links saved." in text(response)
    assert links(db) == [(john.id, "Colleague", jane.id)]


# Access -----------------------------------------------------------------------


@pytest.fixture
def restricted_world(db, web, make_contact, spouse, tags):
    """Uma sees only her own contacts; Hal (owned by someone else) is hidden."""
    from tests.access_helpers import quick_user

    other = quick_user(db, "other@example.com")
    uma = own_only(db, quick_user(db, "uma@example.com"))
    assert web.login(uma.email).status_code == 302
    mine = make_contact("Mia", "Mine", owner=uma)
    hidden = make_contact("Hal", "Hidden", email="hal@example.com", owner=other)
    return uma, mine, hidden


def test_a_crafted_id_of_a_hidden_contact_is_refused_and_nothing_changes(
    web, db, restricted_world, spouse
):
    uma, mine, hidden = restricted_world
    found = web.get(
        "/admin/contact_links/ajax/lookup/",
        query_string={"name": "contactlink-contact2", "query": "hal"},
    ).get_json()
    assert found == []

    url = edit_url("links", mine.id)
    fields = open_form(web, url)
    answers = []
    for crafted in (str(hidden.id), "9999991"):
        response = save(
            web,
            url,
            fields,
            **{
                "links_out-0-link_type": str(spouse.id),
                "links_out-0-contact2": crafted,
            },
        )
        page = text(response)
        assert "Choose a contact to link from the list." in page
        assert "Hidden" not in page
        answers.append(response.status_code)
    assert answers[0] == answers[1]
    assert links(db) == []


def test_a_link_to_a_hidden_contact_is_shown_restricted_and_kept(
    web, db, restricted_world, spouse
):
    uma, mine, hidden = restricted_world
    link_services.link(mine, hidden, spouse)
    db.session.commit()

    url = edit_url("links", mine.id)
    page = text(web.get(url))
    assert "Restricted record" in page
    assert "Hidden" not in page
    assert "hal@example.com" not in page
    fields = read_form(page)
    assert not any(key.endswith("-contact2") for key in fields)

    save(web, url, fields)
    assert links(db) == [(mine.id, "Spouse", hidden.id)]


def test_editors_of_a_hidden_contact_are_not_found(web, db, restricted_world, tags):
    uma, mine, hidden = restricted_world
    for tab in ("tags", "links"):
        page = web.get(edit_url(tab, hidden.id), follow_redirects=True)
        assert "Hidden" not in text(page)
        assert "does not exist" in text(page)

        response = web.post(
            edit_url(tab, hidden.id),
            {
                "version": str(hidden.version),
                "tag_links-0-tag": str(tags["VIP"].id),
            },
            follow_redirects=True,
        )
        assert "does not exist" in text(response)
    assert applied(db, hidden) == {}
    assert reload(db, Contact, hidden.id).version == hidden.version
    assert db.session.scalar(select(func.count()).select_from(ContactTag)) == 0
