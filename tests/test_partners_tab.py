"""The Referral partners tab: the list, manual referrals (editor yes, viewer no),
and the partner's own code, status and link."""

import pytest
from sqlalchemy import func, select

from crm.partners import services
from crm.partners.models import Referral
from tests.access_helpers import own_only, quick_user


def tab_url(contact):
    return f"/admin/contact/details/?id={contact.id}&tab=referrals"


@pytest.fixture
def world(db, make_contact):
    owner = quick_user(db, "owner@example.com")
    editor = own_only(db, quick_user(db, "editor@example.com"))
    viewer = own_only(db, quick_user(db, "viewer@example.com"))
    jane = make_contact("Jane", "Doe", owner=owner)
    paula = services.create_partner(
        make_contact("Paula", "Partner", owner=owner),
        "Paula1",
        status="active",
        track_days=14,
    )
    from crm.access.models import ContactShare

    db.session.add_all(
        [
            ContactShare(contact_id=jane.id, user_id=editor.id, level="edit"),
            ContactShare(contact_id=jane.id, user_id=viewer.id, level="view"),
            ContactShare(contact_id=paula.contact_id, user_id=editor.id, level="view"),
            ContactShare(contact_id=paula.contact_id, user_id=viewer.id, level="view"),
        ]
    )
    db.session.commit()
    return {"jane": jane, "paula": paula, "editor": editor, "viewer": viewer}


def referral_count(db):
    return db.session.scalar(select(func.count(Referral.id)))


def test_an_editor_adds_a_manual_referral_on_the_tab(db, web, world):
    jane, paula = world["jane"], world["paula"]
    web.login("editor@example.com")
    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert 'id="add-referral"' in page
    assert "No referral partner has referred this contact." in page

    response = web.post(
        f"/admin/referrals-of/{jane.id}/add",
        {"partner_id": str(paula.id), "description": "Met at the fair"},
    )
    assert response.status_code == 302
    referral = db.session.scalar(select(Referral))
    assert (referral.kind, referral.partner_id, referral.description) == (
        "manual",
        paula.id,
        "Met at the fair",
    )
    assert referral.created_by_id == world["editor"].id
    assert (referral.expires_at - referral.referred_at).days == 14

    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert "Referral by Paula1 added." in page
    assert "Paula1 (Paula Partner)" in page
    assert "Manual" in page and "Met at the fair" in page


def test_a_permanent_referral_shows_that_it_never_expires(db, web, world):
    jane, paula = world["jane"], world["paula"]
    web.login("editor@example.com")
    web.post(
        f"/admin/referrals-of/{jane.id}/add",
        {"partner_id": str(paula.id), "permanent": "1"},
    )
    referral = db.session.scalar(select(Referral))
    assert (referral.kind, referral.expires_at) == ("permanent", None)
    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert "Permanent" in page and "Never" in page


def test_a_viewer_sees_the_referrals_but_cannot_add_or_remove(db, web, world):
    jane, paula = world["jane"], world["paula"]
    referral = services.add_manual_referral(jane, paula)
    db.session.commit()
    web.login("viewer@example.com")
    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert "Paula1 (Paula Partner)" in page
    assert 'id="add-referral"' not in page
    assert "/remove/" not in page

    added = web.post(
        f"/admin/referrals-of/{jane.id}/add", {"partner_id": str(paula.id)}
    )
    removed = web.post(f"/admin/referrals-of/{jane.id}/remove/{referral.id}")
    assert (added.status_code, removed.status_code) == (404, 404)
    assert referral_count(db) == 1


def test_an_editor_removes_a_manual_referral_but_not_a_cookie_one(db, web, world):
    from datetime import timedelta

    from crm.core.db import utcnow
    from crm.partners.models import COOKIE

    jane, paula = world["jane"], world["paula"]
    manual = services.add_manual_referral(jane, paula)
    cookie = Referral(
        contact_id=jane.id,
        partner_id=paula.id,
        kind=COOKIE,
        referred_at=utcnow() - timedelta(days=1),
        source="form",
        description="",
    )
    db.session.add(cookie)
    db.session.commit()
    manual_id, cookie_id = manual.id, cookie.id
    web.login("editor@example.com")
    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert f"/remove/{manual_id}" in page
    assert f"/remove/{cookie_id}" not in page
    assert "Tracking link (form)" in page

    refused = web.post(
        f"/admin/referrals-of/{jane.id}/remove/{cookie_id}", follow_redirects=True
    )
    assert "cannot be removed" in refused.get_data(as_text=True)
    web.post(f"/admin/referrals-of/{jane.id}/remove/{manual_id}")
    db.session.expire_all()
    assert [r.id for r in db.session.scalars(select(Referral))] == [cookie_id]


def test_a_referral_of_another_contact_cannot_be_removed_through_this_one(
    db, web, world, make_contact
):
    jane, paula = world["jane"], world["paula"]
    other = make_contact("Own", "Contact", owner=world["editor"])
    referral = services.add_manual_referral(jane, paula)
    db.session.commit()
    web.login("editor@example.com")
    page = web.post(
        f"/admin/referrals-of/{other.id}/remove/{referral.id}", follow_redirects=True
    ).get_data(as_text=True)
    assert "That referral does not exist any more." in page
    assert referral_count(db) == 1


def test_a_hidden_partner_cannot_be_chosen_or_seen(db, web, world, make_contact):
    jane = world["jane"]
    hidden = services.create_partner(
        make_contact("Hidden", "Partner", owner=quick_user(db, "x@example.com")),
        "Secret1",
        status="active",
    )
    services.add_manual_referral(jane, hidden)
    db.session.commit()
    web.login("editor@example.com")
    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert "Secret1" not in page and "Hidden Partner" not in page
    assert "Restricted record" in page

    web.post(f"/admin/referrals-of/{jane.id}/add", {"partner_id": str(hidden.id)})
    assert referral_count(db) == 1


def test_a_partner_contact_shows_its_code_status_and_link(db, web, login_as, world):
    paula = world["paula"]
    login_as("admin")
    page = web.get(tab_url(paula.contact)).get_data(as_text=True)
    assert 'id="own-partner"' in page
    assert '<dd class="col-sm-9" id="own-code">Paula1</dd>' in page
    assert "Active" in page
    assert "http://localhost/r/Paula1" in page
    # It cannot be its own referrer: it is not offered in the picker.
    assert f'<option value="{paula.id}"' not in page


def test_partner_names_are_escaped_on_the_tab(db, web, login_as, world, make_contact):
    jane = world["jane"]
    evil = services.create_partner(
        make_contact("<script>alert(1)</script>", "X"), "Evil1", status="active"
    )
    services.add_manual_referral(jane, evil, description="<img src=x onerror=1>")
    db.session.commit()
    login_as("admin")
    page = web.get(tab_url(jane)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<img src=x onerror=1>" not in page
