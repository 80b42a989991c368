import pytest

from crm.contacts.models import Contact
from crm.contacts.tabs import BOTTOM_ROW
from tests.access_helpers import own_only, quick_user
from tests.record_helpers import edit_url, record_url, reload, sign_in

TABS = ("general", "address", "additional", "notes")


@pytest.fixture
def user(web, db):
    return sign_in(web, db)


@pytest.mark.parametrize("tab", [t.key for t in BOTTOM_ROW])
def test_bottom_row_tabs_are_not_available_yet(web, user, make_contact, tab):
    from crm.contacts.tabs import find_renderer

    if find_renderer(tab) is not None:
        pytest.skip(f"the {tab} tab is built")
    contact = make_contact(email="jane@example.com", owner=user)
    response = web.get(record_url(contact.id, tab))
    assert response.status_code == 200
    assert "This tab is not available yet." in response.get_data(as_text=True)


@pytest.mark.parametrize("tab", TABS)
def test_each_top_tab_renders_its_display(web, user, make_contact, tab):
    contact = make_contact(email="jane@example.com", owner=user)
    page = web.get(record_url(contact.id, tab)).get_data(as_text=True)
    assert "not available yet" not in page
    assert f'href="/admin/contact_{tab}/edit/?id={contact.id}"' in page
    assert f'data-tab="{tab}" href=' in page


def test_tab_editors_are_not_in_the_menu(web, user):
    page = web.get("/admin/contact/").get_data(as_text=True)
    for tab in TABS:
        assert f"/admin/contact_{tab}/" not in page


def test_a_tab_editor_without_a_record_leads_back_to_the_list(web, user):
    response = web.get("/admin/contact_general/")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/contact/")


def test_the_edit_page_shows_the_record_header_and_tabs(web, user, make_contact):
    contact = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    page = web.get(edit_url("address", contact.id)).get_data(as_text=True)
    assert 'id="record-name">Jane Doe<' in page
    assert 'class="nav-link active" data-tab="address"' in page
    assert f'href="{record_url(contact.id, "address")}"'.replace("&", "&amp;") in page
    assert 'src="/static/record.js"' in page
    assert "onclick=" not in page.split('id="tab-form"')[1]


@pytest.fixture
def foreign(db, make_contact):
    """A contact owned by someone else, and a signed-in user who sees only own."""
    owner = quick_user(db, "owner@example.com")
    return make_contact("Hidden", "Person", email="hidden@example.com", owner=owner)


@pytest.mark.parametrize("tab", TABS)
def test_a_contact_out_of_reach_cannot_be_edited_on_any_tab(web, db, foreign, tab):
    own_only(db, sign_in(web, db, "u1@example.com"))
    response = web.get(edit_url(tab, foreign.id))
    assert response.status_code == 302
    assert "Hidden" not in web.get(response.headers["Location"]).get_data(as_text=True)

    web.post(edit_url(tab, foreign.id), {"version": "1", "person_notes": "x"})
    assert reload(db, Contact, foreign.id).person_notes is None


def test_weather_and_company_lookup_need_a_signed_in_user(client, foreign):
    assert client.get(f"/admin/contact/weather/?id={foreign.id}").status_code == 302
    assert client.get("/admin/contact_general/companies/?q=a").status_code == 302


def test_weather_of_a_contact_out_of_reach_is_not_found(web, db, foreign):
    own_only(db, sign_in(web, db, "u1@example.com"))
    assert web.get(f"/admin/contact/weather/?id={foreign.id}").status_code == 404
    assert web.get("/admin/contact/weather/?id=abc").status_code == 404
