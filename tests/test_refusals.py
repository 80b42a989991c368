"""Screens a user may not use say why, and a visible row opens read-only."""

from urllib.parse import urlsplit

import pytest

from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.automation_helpers import make_campaign


def flashes(web):
    with web.client.session_transaction() as session:
        return [message for _category, message in session.pop("_flashes", [])]


def path_of(response):
    parts = urlsplit(response.headers["Location"])
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.mark.parametrize(
    "endpoint", ["contact_general", "contact_address", "contact_tags"]
)
def test_edit_of_a_view_only_contact_opens_its_record_with_the_reason(
    db, web, restricted, fast_user, grant, make_contact, endpoint
):
    owner = fast_user("owner@example.com")
    contact = make_contact("Vera", "Viewonly", owner=owner)
    user = restricted("viewer@example.com")
    grant(contact, user=user, level="view")
    assert web.login(user.email).status_code == 302

    response = web.get(f"/admin/{endpoint}/edit/?id={contact.id}")

    assert response.status_code == 302
    assert path_of(response).startswith(f"/admin/contact/details/?id={contact.id}")
    assert flashes(web) == ["You may view this contact but not change it."]


def test_edit_of_an_invisible_contact_still_says_it_does_not_exist(
    db, web, restricted, fast_user, make_contact
):
    contact = make_contact("Hidden", "Person", owner=fast_user("o@example.com"))
    user = restricted("viewer@example.com")
    assert web.login(user.email).status_code == 302

    response = web.get(f"/admin/contact_general/edit/?id={contact.id}")

    assert response.status_code == 302
    assert "/details/" not in response.headers["Location"]
    hidden = flashes(web)
    # The same words as for an id no contact has: nothing tells them apart.
    web.get(f"/admin/contact_general/edit/?id={contact.id + 1000}")
    assert hidden == flashes(web)
    assert hidden == [
        "That contact does not exist any more: it was deleted, or it is no "
        "longer shared with you."
    ]


def test_editable_shared_contact_still_opens_its_edit_screen(
    db, web, restricted, fast_user, grant, make_contact
):
    contact = make_contact("Eddie", "Editor", owner=fast_user("o@example.com"))
    user = restricted("editor@example.com")
    grant(contact, user=user, level="edit")
    assert web.login(user.email).status_code == 302

    response = web.get(f"/admin/contact_general/edit/?id={contact.id}")

    assert response.status_code == 200
    assert flashes(web) == []


def test_post_to_a_view_only_contact_changes_nothing_and_says_why(
    db, web, restricted, fast_user, grant, make_contact
):
    contact = make_contact("Vera", "Viewonly", owner=fast_user("o@example.com"))
    user = restricted("viewer@example.com")
    grant(contact, user=user, level="view")
    assert web.login(user.email).status_code == 302

    response = web.post(
        f"/admin/contact_general/edit/?id={contact.id}",
        {"given_name": "Changed", "family_name": "Name", "version": contact.version},
    )

    assert response.status_code == 302
    assert flashes(web) == ["You may view this contact but not change it."]
    db.session.expire_all()
    assert contact.given_name == "Vera"


def test_non_admin_opening_a_campaign_editor_is_told_why(db, web, fast_user):
    campaign = make_campaign(db)
    user = fast_user("plain@example.com")
    assert web.login(user.email).status_code == 302
    refused = "Your permissions do not let you change records in “Campaigns”."

    edit = web.get(f"/admin/campaign/edit/?id={campaign.id}")
    assert edit.status_code == 302
    assert path_of(edit) == "/admin/campaign/"
    assert flashes(web) == [refused]

    missing = web.get("/admin/campaign/edit/?id=999")
    assert path_of(missing) == "/admin/campaign/"
    assert flashes(web) == [refused]

    create = web.get("/admin/campaign/new/")
    assert create.status_code == 302
    assert flashes(web) == [
        "Your permissions do not let you add records to “Campaigns”."
    ]

    delete = web.post("/admin/campaign/delete/", {"id": str(campaign.id)})
    assert delete.status_code == 302
    assert flashes(web) == [refused]
    db.session.expire_all()
    assert db.session.get(type(campaign), campaign.id) is not None


@pytest.mark.parametrize(
    "lang, message",
    [
        ("es", "Sus permisos no le permiten cambiar registros en «Campañas»."),
    ],
)
def test_screen_refusal_is_translated(db, web, fast_user, lang, message):
    campaign = make_campaign(db)
    user = fast_user("plain@example.com")
    user.locale = lang
    db.session.commit()
    assert web.login(user.email).status_code == 302

    web.get(f"/admin/campaign/edit/?id={campaign.id}")

    assert flashes(web) == [message]


def test_spanish_refusal_is_translated(
    db, web, restricted, fast_user, grant, make_contact
):
    contact = make_contact("Vera", "Viewonly", owner=fast_user("o@example.com"))
    user = restricted("viewer@example.com")
    user.locale = "es"
    db.session.commit()
    grant(contact, user=user, level="view")
    assert web.login(user.email).status_code == 302

    web.get(f"/admin/contact_general/edit/?id={contact.id}")

    assert flashes(web) == ["Puede ver este contacto, pero no cambiarlo."]
