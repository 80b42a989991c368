"""The contact owner: one rule on every path that sets it (active users only)."""

import json

import pytest

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from tests.access_helpers import quick_user
from tests.record_helpers import edit, edit_url, open_form, reload, save, sign_in

DEACTIVATED = "Gone User is deactivated; choose an active user as the owner."


@pytest.fixture
def admin(web, db):
    return sign_in(web, db, "ana@example.com", is_admin=True, name="Ana Admin")


@pytest.fixture
def gone(db):
    user = quick_user(db, "gone@example.com", name="Gone User")
    user.active = False
    db.session.commit()
    return user


@pytest.fixture
def jane(make_contact, admin):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=admin)


def test_general_editor_refuses_a_deactivated_owner(web, db, admin, gone, jane):
    response = edit(web, "general", jane.id, owner=str(gone.id))
    page = response.get_data(as_text=True)
    assert DEACTIVATED in page
    assert "Contact saved." not in page
    assert reload(db, Contact, jane.id).owner_id == admin.id


def test_a_new_contact_cannot_be_given_to_a_deactivated_owner(web, db, admin, gone):
    url = "/admin/contact_general/new/"
    fields = open_form(web, url)
    response = save(
        web,
        url,
        fields,
        given_name="Newt",
        emails__0__address="newt@example.com",
        owner=str(gone.id),
    )
    assert DEACTIVATED in response.get_data(as_text=True)
    assert db.session.query(Contact).filter_by(given_name="Newt").count() == 0


def test_an_unknown_owner_id_is_refused_naming_the_field(web, db, admin, jane):
    response = edit(web, "general", jane.id, owner="999999")
    page = response.get_data(as_text=True)
    assert "Owner: choose a user from the list (there is no user 999999)." in page
    assert "Contact saved." not in page
    assert reload(db, Contact, jane.id).owner_id == admin.id


def test_a_deactivated_current_owner_stays_when_other_fields_change(
    web, db, admin, make_contact
):
    former = quick_user(db, "former@example.com", name="Former Owner")
    contact = make_contact("Kept", "Owner", email="kept@example.com", owner=former)
    former.active = False
    db.session.commit()

    response = edit(web, "general", contact.id, job_title="Buyer")
    assert "Contact saved." in response.get_data(as_text=True)
    contact = reload(db, Contact, contact.id)
    assert (contact.owner_id, contact.job_title) == (former.id, "Buyer")


def test_access_tab_refuses_a_deactivated_owner_with_the_same_rule(
    web, db, admin, gone, jane
):
    response = web.post(
        "/admin/contact-access/reassign/",
        {"id": jane.id, "owner": gone.id},
        follow_redirects=True,
    )
    assert DEACTIVATED in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).owner_id == admin.id


def test_reassigning_through_the_service_follows_the_rule(db, admin, gone, jane):
    from crm.access.services import reassign_owner

    with pytest.raises(ServiceError, match="Gone User is deactivated"):
        reassign_owner(jane, gone, None)
    db.session.rollback()

    # A contact already owned by a user who was deactivated may keep them.
    jane = db.session.get(Contact, jane.id)
    jane.owner = gone
    db.session.commit()
    reassign_owner(jane, gone, None)
    assert jane.owner_id == gone.id


def test_an_import_for_a_deactivated_owner_is_refused(db, gone):
    from crm.imports import engine

    with pytest.raises(ServiceError, match="Gone User is deactivated"):
        engine.run(b"email\nnew@example.com\n", owner=gone, name="people.csv")
    db.session.rollback()
    assert db.session.query(Contact).count() == 0


def test_owner_picker_offers_active_users_by_name_then_email(web, db, admin, gone):
    carla_2 = quick_user(db, "carla2@example.com", name="Carla")
    carla_1 = quick_user(db, "carla1@example.com", name="Carla")
    bruno = quick_user(db, "bruno@example.com", name="bruno")

    response = web.get("/admin/contact_general/ajax/lookup/?name=owner&query=&limit=50")
    assert response.status_code == 200
    offered = [user_id for user_id, _label in json.loads(response.data)]
    assert offered == [admin.id, bruno.id, carla_1.id, carla_2.id]

    response = web.get("/admin/contact_general/ajax/lookup/?name=owner&query=gone")
    assert json.loads(response.data) == []


def test_the_edit_form_still_shows_a_deactivated_owner(web, db, admin, make_contact):
    former = quick_user(db, "former@example.com", name="Former Owner")
    contact = make_contact("Kept", "Owner", email="kept@example.com", owner=former)
    former.active = False
    db.session.commit()

    fields = open_form(web, edit_url("general", contact.id))
    assert fields["owner"] == str(former.id)
    assert db.session.get(User, former.id).active is False
