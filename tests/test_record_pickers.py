"""Record pickers whose choice acts at once open on an empty choice and refuse
an empty post with a message."""

import re

from crm.links.models import LinkType
from crm.tags import services as tags
from tests.record_helpers import flashes
from tests.test_opportunities import make_opportunity, make_pipeline


def record_url(contact, tab):
    return f"/admin/contact/details/?id={contact.id}&tab={tab}"


def first_option(page, select_id):
    found = re.search(
        rf'<select[^>]*id="{select_id}"[^>]*>\s*<option([^>]*)>([^<]*)</option>',
        page,
        re.S,
    )
    assert found, f"no select {select_id}"
    return found[1], found[2]


def test_tags_tab_starts_on_choose_a_tag_and_refuses_an_empty_apply(
    db, web, login_as, make_contact
):
    user = login_as("user")
    jane = make_contact(owner=user)
    tags.get_or_create_tag("Demo: Welcome series", "Marketing")
    db.session.commit()

    page = web.get(record_url(jane, "tags")).get_data(as_text=True)
    attributes, label = first_option(page, "tag_id")
    assert 'value=""' in attributes and label == "Choose a tag"
    assert not re.search(r"<option selected[^>]*>Demo: Welcome series", page)

    web.post(f"/admin/tags-of/{jane.id}/apply", {"tag_id": ""})
    assert flashes(web) == ["Choose a tag to apply."]
    db.session.refresh(jane)
    assert jane.tag_links == []


def test_links_tab_starts_on_choose_a_link_type(db, web, login_as, make_contact):
    user = login_as("user")
    jane = make_contact(owner=user)
    john = make_contact("John", owner=user)
    db.session.add(LinkType(name="Spouse", max_links=1))
    db.session.commit()

    page = web.get(record_url(jane, "links")).get_data(as_text=True)
    attributes, label = first_option(page, "link_type_id")
    assert 'value=""' in attributes and "selected" in attributes
    assert label == "Choose a link type"

    web.post(
        f"/admin/contact-links/{jane.id}/link",
        {"link_type_id": "", "contact2": str(john.id)},
    )
    assert flashes(web) == ["Choose a link type."]


def test_access_tab_share_picker_starts_on_an_empty_choice(
    db, web, login_as, make_contact, make_user
):
    admin = login_as("admin")
    make_user("colleague@example.com")
    jane = make_contact(owner=admin)

    page = web.get(record_url(jane, "access")).get_data(as_text=True)
    attributes, label = first_option(page, "share-principal")
    assert 'value=""' in attributes and label == "Choose a user or team"

    web.post(
        "/admin/contact-access/share/",
        {"id": str(jane.id), "principal": "", "level": "view"},
    )
    assert flashes(web) == ["Choose an active user or a team to share with."]


def test_opportunity_move_picker_starts_empty_and_asks_for_a_stage(
    db, web, login_as, make_contact
):
    user = login_as("user")
    jane = make_contact(owner=user)
    stages = make_pipeline(db)
    deal = make_opportunity(db, jane, user, stages["demo"])

    page = web.get(record_url(jane, "opportunities")).get_data(as_text=True)
    attributes, label = first_option(page, f"move-stage-{deal.id}")
    assert 'value=""' in attributes and label == "Choose a stage"

    web.post(f"/admin/pipeline/move-form/{deal.id}", {"stage_id": ""})
    assert flashes(web) == ["Choose a stage to move to."]
    db.session.refresh(deal)
    assert deal.stage_id == stages["demo"].id
