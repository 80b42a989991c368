import html
from datetime import date

import pytest

from crm.contacts.models import Contact
from tests.record_helpers import (
    edit,
    edit_url,
    open_form,
    record_url,
    reload,
    save,
    sign_in,
)


@pytest.fixture
def jane(web, db, make_contact):
    user = sign_in(web, db)
    return make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 555 0100", owner=user
    )


def test_additional_fields_are_saved_and_shown(web, db, jane):
    response = edit(
        web,
        "additional",
        jane.id,
        birthday="1990-03-12",
        anniversary="2015-06-20",
        spouse_name="John Doe",
        assistant_name="Ann Aide",
        assistant_phone="555 0111",
        referral_code="REF-42",
        billing_information="Net 30",
    )
    assert "Contact saved." in response.get_data(as_text=True)
    assert response.request.args["tab"] == "additional"

    contact = reload(db, Contact, jane.id)
    assert contact.birthday == date(1990, 3, 12)
    assert contact.anniversary == date(2015, 6, 20)
    assert (contact.spouse_name, contact.assistant_name) == ("John Doe", "Ann Aide")
    assert contact.referral_code == "REF-42"

    page = web.get(record_url(jane.id, "additional")).get_data(as_text=True)
    assert 'id="birthday">1990-03-12<' in page
    assert "REF-42" in page and "Net 30" in page


def test_an_impossible_date_is_refused(web, db, jane):
    response = edit(web, "additional", jane.id, birthday="1990-31-12")
    assert "Not a valid date value." in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).birthday is None


def test_an_assistant_name_over_its_limit_is_refused(web, db, jane):
    response = edit(web, "additional", jane.id, assistant_name="A" * 21)
    assert "20 characters" in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).assistant_name is None


def test_social_accounts_are_added_and_removed_inline(web, db, jane):
    edit(
        web,
        "additional",
        jane.id,
        social_accounts__0__type="LINKED_IN",
        social_accounts__0__name="janedoe",
        social_accounts__1__type="TWITTER",
        social_accounts__1__name="@jane",
    )
    accounts = reload(db, Contact, jane.id).social_accounts
    assert [(a.type, a.name) for a in accounts] == [
        ("LINKED_IN", "janedoe"),
        ("TWITTER", "@jane"),
    ]

    url = edit_url("additional", jane.id)
    save(web, url, open_form(web, url), **{"del-social_accounts-0": "y"})
    accounts = reload(db, Contact, jane.id).social_accounts
    assert [(a.type, a.name) for a in accounts] == [("TWITTER", "@jane")]


def test_social_networks_read_by_their_names_and_store_their_codes(web, db, jane):
    # The new-row template is held escaped in the page.
    form = html.unescape(web.get(edit_url("additional", jane.id)).get_data(True))
    assert '<option value="LINKED_IN">LinkedIn</option>' in form
    assert '<option value="TWITTER">X (Twitter)</option>' in form
    assert ">LINKED_IN<" not in form

    edit(
        web,
        "additional",
        jane.id,
        social_accounts__0__type="LINKED_IN",
        social_accounts__0__name="joostvdm",
    )
    [account] = reload(db, Contact, jane.id).social_accounts
    assert account.type == "LINKED_IN"
    assert str(account) == "LinkedIn: joostvdm"

    page = web.get(record_url(jane.id, "additional")).get_data(as_text=True)
    shown = page.split('id="social-accounts"')[1].split("</dd>")[0]
    assert "LinkedIn:" in shown and "LINKED_IN" not in shown


def test_an_unknown_social_network_is_refused(web, db, jane):
    response = edit(
        web,
        "additional",
        jane.id,
        social_accounts__0__type="MYSPACE",
        social_accounts__0__name="jane",
    )
    assert "Choose a value from the list." in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).social_accounts == []


def test_other_phones_and_faxes_show_read_only_with_a_link_to_general(web, db, jane):
    edit(
        web,
        "general",
        jane.id,
        phones__1__number="+1 555 0102",
        faxes__0__number="+1 555 0190",
    )
    page = web.get(record_url(jane.id, "additional")).get_data(as_text=True)
    other = page.split('id="other-phones"')[1].split("</dd>")[0]
    assert "+1 555 0102" in other and "+1 555 0100" not in other
    assert "+1 555 0190" in page.split('id="additional-faxes"')[1]
    assert f'href="/admin/contact_general/edit/?id={jane.id}"' in page
    assert 'name="phones-' not in open_form_html(web, edit_url("additional", jane.id))


def open_form_html(web, url):
    return web.get(url).get_data(as_text=True)


def test_person_notes_keep_their_lines(web, db, jane):
    text = "Met at the fair.\nCall back in May.\n\n  Likes tea."
    response = edit(web, "notes", jane.id, person_notes=text)
    assert "Contact saved." in response.get_data(as_text=True)
    assert reload(db, Contact, jane.id).person_notes == text

    page = web.get(record_url(jane.id, "notes")).get_data(as_text=True)
    assert 'class="crm-notes"' in page and "Call back in May." in page


def test_notes_tab_says_when_there_are_none(web, jane):
    page = web.get(record_url(jane.id, "notes")).get_data(as_text=True)
    assert "No person notes yet." in page
