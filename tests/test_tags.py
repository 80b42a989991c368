import re
import unicodedata

import pytest
from sqlalchemy import func, select

from crm.core.errors import ServiceError
from crm.tags import services
from crm.tags.models import ContactTag, Tag, TagCategory


def record_url(contact, tab="tags"):
    return f"/admin/contact/details/?id={contact.id}&tab={tab}"


def tags_of(db, contact):
    db.session.expire_all()
    rows = db.session.scalars(
        select(ContactTag).where(ContactTag.contact_id == contact.id)
    )
    return {row.tag.name: row for row in rows}


# Services ---------------------------------------------------------------------


def test_get_or_create_tag_trims_normalises_and_reuses_ignoring_case(db):
    first = services.get_or_create_tag("  Webinar   2026 ", "Events")
    db.session.commit()
    assert first.name == "Webinar 2026"
    assert first.category.name == "Events"

    again = services.get_or_create_tag("WEBINAR 2026", "Other category")
    assert again.id == first.id
    assert again.category.name == "Events"
    assert db.session.scalar(select(func.count(Tag.id))) == 1
    assert db.session.scalar(select(func.count(TagCategory.id))) == 1


def test_get_or_create_tag_treats_nfd_and_nfc_as_the_same_name(db):
    nfc = services.get_or_create_tag("Müller-Kunden")
    db.session.commit()
    nfd = unicodedata.normalize("NFD", "müller-kunden")
    assert services.get_or_create_tag(nfd).id == nfc.id
    assert unicodedata.is_normalized("NFC", nfc.name)


def test_a_tag_may_have_no_category(db):
    tag = services.get_or_create_tag("Newsletter")
    assert tag.category is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("   ", "A tag needs a name."),
        ("x" * 256, "A tag name has at most 255 characters."),
    ],
)
def test_get_or_create_tag_refuses_unusable_names(db, name, message):
    with pytest.raises(ServiceError) as caught:
        services.get_or_create_tag(name)
    assert caught.value.message == message


def test_apply_and_remove_send_signals_once(db, make_contact, make_user):
    user = make_user()
    contact = make_contact()
    tag = services.get_or_create_tag("Customer")
    seen = []

    def on_applied(sender, tag, actor):
        seen.append(("applied", sender.id, tag.name, actor.id))

    def on_removed(sender, tag, actor):
        seen.append(("removed", sender.id, tag.name, actor.id))

    services.tag_applied.connect(on_applied)
    services.tag_removed.connect(on_removed)
    try:
        link = services.apply_tag(contact, tag, user)
        again = services.apply_tag(contact, tag, user)
        db.session.commit()
        assert again is link
        assert link.applied_by_id == user.id
        assert link.applied_at is not None

        assert services.remove_tag(contact, tag, user) is True
        assert services.remove_tag(contact, tag, user) is False
        db.session.commit()
    finally:
        services.tag_applied.disconnect(on_applied)
        services.tag_removed.disconnect(on_removed)

    assert seen == [
        ("applied", contact.id, "Customer", user.id),
        ("removed", contact.id, "Customer", user.id),
    ]
    assert tags_of(db, contact) == {}


def test_reapplying_keeps_the_first_applied_time(db, make_contact):
    contact = make_contact()
    tag = services.get_or_create_tag("Lead")
    first = services.apply_tag(contact, tag).applied_at
    db.session.commit()
    services.apply_tag(contact, tag)
    db.session.commit()
    assert tags_of(db, contact)["Lead"].applied_at == first


# Admin screens ----------------------------------------------------------------


def test_admin_creates_a_category_and_a_tag(web, db, login_as):
    login_as("admin")
    response = web.post("/admin/tag_category/new/", {"name": " Events "})
    assert response.status_code == 302
    category = db.session.scalar(select(TagCategory))
    assert category.name == "Events"

    response = web.post(
        "/admin/tag/new/", {"name": "Webinar", "category": str(category.id)}
    )
    assert response.status_code == 302
    db.session.expire_all()
    tag = db.session.scalar(select(Tag))
    assert (tag.name, tag.category_id) == ("Webinar", category.id)
    assert "Webinar" in web.get("/admin/tag/").get_data(as_text=True)


def test_tag_names_are_unique_ignoring_case_on_the_admin_screen(web, db, login_as):
    login_as("admin")
    services.get_or_create_tag("Webinar")
    db.session.commit()
    page = web.post("/admin/tag/new/", {"name": "WEBINAR"}, follow_redirects=True)
    assert "The name WEBINAR is already used." in page.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Tag.id))) == 1


def test_users_may_list_tags_but_not_create_them(web, db, login_as):
    login_as("user")
    services.get_or_create_tag("Webinar")
    db.session.commit()
    page = web.get("/admin/tag/")
    assert page.status_code == 200
    assert "Webinar" in page.get_data(as_text=True)

    web.post("/admin/tag/new/", {"name": "Sneaky"})
    assert db.session.scalar(select(Tag).where(Tag.name == "Sneaky")) is None


def test_tag_screens_are_in_the_settings_menu(web, login_as):
    login_as("admin")
    page = web.get("/admin/tag/").get_data(as_text=True)
    assert "Settings" in page
    assert "Tag categories" in page


# The Tags tab of the record -----------------------------------------------------


@pytest.fixture
def jane(make_contact):
    return make_contact("Jane", "Doe", email="jane@example.com")


def test_tags_tab_offers_tags_grouped_by_category(web, db, login_as, jane):
    login_as("user")
    services.get_or_create_tag("Webinar", "Events")
    services.get_or_create_tag("Trade fair", "Events")
    services.get_or_create_tag("VIP")
    db.session.commit()

    page = web.get(record_url(jane)).get_data(as_text=True)
    assert '<optgroup label="Events">' in page
    assert '<optgroup label="No category">' in page
    assert page.index("Trade fair") < page.index("Webinar") < page.index("VIP")


def test_apply_a_tag_from_the_record_shows_when_and_by_whom(web, db, login_as, jane):
    user = login_as("user", name="Una User")
    tag = services.get_or_create_tag("Customer")
    db.session.commit()

    response = web.post(f"/admin/tags-of/{jane.id}/apply", {"tag_id": str(tag.id)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(record_url(jane))

    applied = tags_of(db, jane)["Customer"]
    assert applied.applied_by_id == user.id
    page = web.get(record_url(jane)).get_data(as_text=True)
    assert "Tag Customer applied." in page
    assert applied.applied_at.strftime("%Y-%m-%d %H:%M UTC") in page
    assert "Una User" in page


def test_remove_a_tag_from_the_record(web, db, login_as, jane):
    login_as("user")
    tag = services.get_or_create_tag("Customer")
    services.apply_tag(jane, tag)
    db.session.commit()

    response = web.post(f"/admin/tags-of/{jane.id}/remove/{tag.id}")
    assert response.status_code == 302
    assert tags_of(db, jane) == {}
    page = web.get(record_url(jane)).get_data(as_text=True)
    assert "Tag Customer removed." in page


def test_create_a_tag_in_a_new_category_from_the_record(web, db, login_as, jane):
    login_as("user")
    response = web.post(
        f"/admin/tags-of/{jane.id}/new",
        {"name": "Spring promo", "category_id": "", "new_category": "Campaigns"},
    )
    assert response.status_code == 302
    applied = tags_of(db, jane)["Spring promo"]
    assert applied.tag.category.name == "Campaigns"
    page = web.get(record_url(jane)).get_data(as_text=True)
    assert "Tag Spring promo created and applied." in page
    assert "Campaigns" in page


def test_create_a_tag_in_an_existing_category_from_the_record(web, db, login_as, jane):
    login_as("user")
    category = services.get_or_create_category("Events")
    db.session.commit()
    web.post(
        f"/admin/tags-of/{jane.id}/new",
        {"name": "Webinar", "category_id": str(category.id)},
    )
    assert tags_of(db, jane)["Webinar"].tag.category_id == category.id


def test_new_tag_with_an_existing_name_reuses_the_tag(web, db, login_as, jane):
    login_as("user")
    services.get_or_create_tag("Webinar")
    db.session.commit()
    web.post(f"/admin/tags-of/{jane.id}/new", {"name": "webinar"})
    assert list(tags_of(db, jane)) == ["Webinar"]
    assert db.session.scalar(select(func.count(Tag.id))) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "Type the name of the new tag."),
        (
            {"name": "Webinar", "category_id": "1", "new_category": "Other"},
            "Choose an existing category or type a new one, not both.",
        ),
        (
            {"name": "Webinar", "category_id": "99999"},
            "That tag category does not exist.",
        ),
    ],
)
def test_bad_new_tag_input_changes_nothing(web, db, login_as, jane, data, message):
    login_as("user")
    services.get_or_create_category("Events")
    db.session.commit()
    page = web.post(f"/admin/tags-of/{jane.id}/new", data, follow_redirects=True)
    assert message in page.get_data(as_text=True)
    assert tags_of(db, jane) == {}
    assert db.session.scalar(select(func.count(Tag.id))) == 0


def test_applying_a_missing_tag_is_refused(web, db, login_as, jane):
    login_as("user")
    page = web.post(
        f"/admin/tags-of/{jane.id}/apply", {"tag_id": "99999"}, follow_redirects=True
    )
    assert "That tag does not exist." in page.get_data(as_text=True)
    assert tags_of(db, jane) == {}


def test_tag_endpoints_answer_404_for_an_unknown_contact(web, db, login_as):
    login_as("user")
    tag = services.get_or_create_tag("Customer")
    db.session.commit()
    assert (
        web.post("/admin/tags-of/99999/apply", {"tag_id": str(tag.id)}).status_code
        == 404
    )
    assert web.post(f"/admin/tags-of/99999/remove/{tag.id}").status_code == 404
    assert web.post("/admin/tags-of/99999/new", {"name": "X"}).status_code == 404
    assert db.session.scalar(select(Tag).where(Tag.name == "X")) is None


def test_tag_post_without_csrf_token_is_refused(web, db, login_as, jane):
    login_as("user")
    tag = services.get_or_create_tag("Customer")
    db.session.commit()
    response = web.client.post(
        f"/admin/tags-of/{jane.id}/apply", data={"tag_id": str(tag.id)}
    )
    assert response.status_code == 400
    assert tags_of(db, jane) == {}


def test_tag_names_are_escaped_on_the_record(web, db, login_as, jane):
    login_as("user")
    tag = services.get_or_create_tag("<script>alert(1)</script>")
    services.apply_tag(jane, tag)
    db.session.commit()
    page = web.get(record_url(jane)).get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_anonymous_visitors_cannot_apply_tags(web, db, jane):
    tag = services.get_or_create_tag("Customer")
    db.session.commit()
    response = web.post(f"/admin/tags-of/{jane.id}/apply", {"tag_id": str(tag.id)})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert tags_of(db, jane) == {}


def test_the_by_column_names_the_automation_or_web_form_that_applied_a_tag(
    web, db, client, login_as, jane
):
    from crm.automation import engine
    from crm.automation import services as automation
    from tests.automation_helpers import make_campaign, make_sequence, utc
    from tests.webform_helpers import make_form, submit

    login_as("user")
    nurtured = services.get_or_create_tag("Nurtured")
    signed_up = services.get_or_create_tag("Signed up")
    db.session.commit()
    sequence = make_sequence(
        db,
        "Welcome",
        steps=[("none", None, "apply_tag", {"tag_id": nurtured.id})],
        campaign=make_campaign(db, "Onboarding"),
    )
    automation.start(jane, sequence, now=utc(2026, 5, 4, 10, 0))
    db.session.commit()
    engine.drain("w1", now=utc(2026, 5, 4, 10, 0))
    form = make_form(db, "Spring newsletter")
    form.tags.append(signed_up)
    db.session.commit()
    submit(client, form, {"email": "jane@example.com"})

    rows = tags_of(db, jane)
    assert rows["Nurtured"].applied_via == f"sequence:{sequence.id}"
    assert rows["Signed up"].applied_via == f"webform:{form.id}"
    page = web.get(record_url(jane)).get_data(as_text=True)
    by = re.findall(r'<td class="applied-by">([^<]*)</td>', page)
    assert sorted(by) == [
        "Automation: Onboarding: Welcome",
        "Web form: Spring newsletter",
    ]

    # What applied it is named even when it no longer exists.
    db.session.delete(form)
    db.session.delete(sequence)
    db.session.commit()
    page = web.get(record_url(jane)).get_data(as_text=True)
    by = re.findall(r'<td class="applied-by">([^<]*)</td>', page)
    assert sorted(by) == ["Automation", "Web form"]


@pytest.mark.parametrize("name", ["Smith, Jones", "A;B"])
def test_a_new_tag_name_cannot_hold_a_file_separator(db, name):
    from crm.tags.services import get_or_create_tag

    with pytest.raises(ServiceError) as caught:
        get_or_create_tag(name)
    assert "cannot hold a comma or a semicolon" in caught.value.message
    assert db.session.query(Tag).count() == 0


def test_the_tags_screen_refuses_a_separator_in_a_tag_name(web, db, login_as):
    login_as("admin")
    page = web.post(
        "/admin/tag/new/", {"name": "Smith, Jones"}, follow_redirects=True
    ).get_data(as_text=True)
    assert "cannot hold a comma or a semicolon" in page
    assert db.session.query(Tag).count() == 0
