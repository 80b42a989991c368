"""Failure kind E1: two editors, one record."""

import pytest
from sqlalchemy import func, select

from crm.auth.models import User
from crm.contacts.models import Contact
from crm.core.admin import STALE_MESSAGE
from crm.customfields.models import CustomField, CustomHeader, CustomTab, CustomValue
from tests.conftest import Web
from tests.record_helpers import (
    edit_url,
    open_form,
    read_form,
    reload,
    save,
    sign_in,
)


@pytest.fixture
def second_web(app, db):
    """A second browser, signed in as another user (U2)."""
    other = Web(app.test_client())
    sign_in(other, db, "u2@example.com")
    return other


@pytest.fixture
def jane(make_contact, web, db):
    sign_in(web, db, "u1@example.com")
    return make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 555 0100", country="USA"
    )


def test_second_save_of_a_changed_record_is_refused_and_keeps_the_first(
    web, second_web, db, jane
):
    url = edit_url("general", jane.id)
    form_u1 = open_form(web, url)
    form_u2 = open_form(second_web, url)

    saved = save(web, url, form_u1, **{"phones-0-number": "+1 555 0199"})
    assert "Contact saved." in saved.get_data(as_text=True)

    refused = save(
        second_web, url, form_u2, **{"billing_addresses-0-locality": "Springfield"}
    )
    page = refused.get_data(as_text=True)
    assert refused.request.path == "/admin/contact_general/edit/"
    assert "changed by someone else since you opened it" in page
    assert STALE_MESSAGE.split(":")[0].replace("'", "&#39;") in page
    # U2's input is still in the form, ready to be re-entered after a reload.
    assert 'value="Springfield"' in page

    contact = reload(db, Contact, jane.id)
    assert contact.phones[0].number == "+1 555 0199"
    assert contact.billing_address.locality is None


def test_every_tab_form_carries_the_version_it_was_opened_at(web, jane):
    for tab in ("general", "address", "additional", "notes"):
        assert open_form(web, edit_url(tab, jane.id))["version"] == str(jane.version)


@pytest.mark.parametrize("version", [None, "", "0", "abc"])
def test_a_post_without_the_current_version_is_refused(web, db, jane, version):
    url = edit_url("notes", jane.id)
    response = save(web, url, open_form(web, url), version=version, person_notes="x")
    assert "changed by someone else" in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).person_notes is None


def test_a_save_after_reloading_goes_through(web, second_web, db, jane):
    url = edit_url("notes", jane.id)
    stale = open_form(second_web, url)
    save(web, url, open_form(web, url), person_notes="First")
    save(second_web, url, stale, person_notes="Second")
    assert reload(db, Contact, jane.id).person_notes == "First"

    fresh = open_form(second_web, url)
    assert fresh["person_notes"] == "First"
    response = save(second_web, url, fresh, person_notes="Second")
    assert "Contact saved." in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).person_notes == "Second"


GONE = "That contact does not exist any more: it was deleted"


@pytest.mark.parametrize(
    ("tab", "typed"),
    [
        ("general", {"given_name": "Janet"}),
        ("address", {"billing_addresses-0-locality": "Springfield"}),
        ("additional", {"spouse_name": "Jim"}),
        ("notes", {"person_notes": "Typed while it was deleted"}),
        ("tags", {}),
        ("links", {}),
    ],
)
def test_saving_an_editor_of_a_deleted_contact_says_so_on_the_list(
    web, db, jane, tab, typed
):
    url = edit_url(tab, jane.id)
    fields = open_form(web, url)
    db.session.delete(jane)
    db.session.commit()

    response = save(web, url, fields, **typed)
    page = response.get_data(as_text=True)
    assert response.request.path == "/admin/contact/"
    assert GONE in page and "Nothing was saved." in page
    assert "Record does not exist." not in page
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0

    response = web.get(url, follow_redirects=True)
    assert response.request.path == "/admin/contact/"
    assert GONE in response.get_data(as_text=True)


def test_saving_a_custom_tab_of_a_deleted_contact_says_so_on_the_list(web, db, jane):
    tab = CustomTab(name="Preferences")
    field = CustomField(
        header=CustomHeader(tab=tab, name="Shopping"),
        label="Size",
        field_name="Size",
        field_type="text",
    )
    db.session.add_all([tab, field])
    db.session.commit()
    url = f"/admin/custom-values/{jane.id}/{tab.id}/"
    fields = read_form(web.get(url).get_data(as_text=True), "custom-values-form")
    db.session.delete(jane)
    db.session.commit()

    response = save(web, url, fields, **{f"field_{field.id}": "42"})
    page = response.get_data(as_text=True)
    assert response.request.path == "/admin/contact/"
    assert GONE in page and "Nothing was saved." in page
    assert db.session.scalar(select(func.count()).select_from(CustomValue)) == 0
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0


def test_the_stale_message_reads_in_the_users_language(web, second_web, db, jane):
    user = db.session.scalar(select(User).where(User.email == "u2@example.com"))
    user.locale = "es"
    db.session.commit()
    url = edit_url("notes", jane.id)
    stale = open_form(second_web, url)
    save(web, url, open_form(web, url), person_notes="First")

    page = save(second_web, url, stale, person_notes="Second").get_data(as_text=True)
    assert "Otra persona ha cambiado este registro" in page
    assert "changed by someone else" not in page
