"""Web forms: a submission creates or updates the contact by the form's rules,
answers bad input with field errors and writes nothing, and records its
source, history, status, tags, score, goal, referral and visitor."""

import re

import pytest
from sqlalchemy import func, select

from crm.activity.models import ActivityEvent
from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.core.signals import visitor_identified
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.mail import services as mail
from crm.tags.models import Tag
from crm.webforms import services
from crm.webforms.models import Submission, WebForm, WebFormField
from tests.record_helpers import record_url
from tests.webform_helpers import SITE, make_form, submit, token_of

JANE = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}


def count(db, model):
    return db.session.scalar(select(func.count()).select_from(model))


def test_a_submission_creates_a_contact_with_source_history_status_and_tags(client, db):
    vip = Tag(name="Newsletter")
    db.session.add(vip)
    db.session.commit()
    form = make_form(db)
    form.tags.append(vip)
    db.session.commit()

    response = submit(
        client,
        form,
        JANE,
        utm_source="spring",
        utm_campaign="launch",
        page=SITE + "/landing",
    )

    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    contact = db.session.scalars(select(Contact)).one()
    assert (contact.given_name, contact.family_name, contact.primary_email) == (
        "Jane",
        "Doe",
        "jane@example.com",
    )
    assert contact.source_type == "WEBFORM"
    assert [link.tag.name for link in contact.tag_links] == ["Newsletter"]
    submission = db.session.scalars(select(Submission)).one()
    assert (submission.state, submission.contact_id) == ("processed", contact.id)
    assert submission.ip == "127.0.0.1"
    assert submission.utm == {"utm_source": "spring", "utm_campaign": "launch"}
    assert submission.page_url == SITE + "/landing"
    event = db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.kind == "form_submitted")
    ).one()
    assert (event.contact_id, event.ref_id, event.target) == (
        contact.id,
        form.id,
        f"form:{form.id}",
    )
    status = mail.find_status("jane@example.com")
    assert (status.status, status.reason) == ("SINGLE_OPT_IN", "web form")


def test_the_history_entry_reads_as_a_form_submission(web, db, admin_user):
    form = make_form(db)
    submit(web.client, form, JANE, utm_source="fair")
    contact = db.session.scalars(select(Contact)).one()
    web.login(admin_user.email)

    page = web.get(record_url(contact.id, "activity")).get_data(as_text=True)

    assert "Web form: Newsletter" in page
    assert "New contact" in page and "fair" in page


@pytest.mark.parametrize(
    ("rule", "posted", "updates"),
    [
        ("email", {"given_name": "Other"}, True),
        ("email", {"email": "JANE@Example.com "}, True),
        ("email", {"email": "new@example.com"}, False),
        ("email_name", {}, True),
        ("email_name", {"given_name": "Janet"}, False),
        ("email_name_company", {"company": "Acme"}, True),
        ("email_name_company", {"company": "Other Inc"}, False),
        ("none", {}, False),
    ],
)
def test_duplicate_rules_decide_update_or_create(
    client, db, make_contact, rule, posted, updates
):
    jane = make_contact("Jane", "Doe", email="jane@example.com", company="Acme")
    fields = (
        ("email", {"required": True}),
        ("given_name", {}),
        ("family_name", {}),
        ("company", {}),
    )
    form = make_form(db, fields=fields, duplicate_rule=rule)

    response = submit(client, form, {**JANE, "company": "Acme", **posted})

    assert response.status_code == 200
    contacts = db.session.scalars(select(Contact).order_by(Contact.id)).all()
    assert len(contacts) == (1 if updates else 2)
    submission = db.session.scalars(select(Submission)).one()
    assert (submission.contact_id == jane.id) is updates


def test_a_field_overwrites_only_when_the_form_says_so(client, db, make_contact):
    jane = make_contact("Jane", "Doe", email="jane@example.com", job_title="Clerk")
    fields = (
        ("email", {"required": True}),
        ("given_name", {"overwrite": False}),
        ("phone", {"overwrite": False}),
        ("job_title", {"overwrite": True}),
    )
    form = make_form(db, fields=fields)

    submit(
        client,
        form,
        {
            "email": "jane@example.com",
            "given_name": "Janet",
            "phone": "+1 415 555 0101",
            "job_title": "Director",
        },
    )

    db.session.expire_all()
    jane = db.session.get(Contact, jane.id)
    # Kept (only an empty value is filled), filled, overwritten.
    assert jane.given_name == "Jane"
    assert jane.primary_phone == "+1 415 555 0101"
    assert jane.job_title == "Director"


@pytest.fixture
def seats(db):
    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Facts")
    field = CustomField(
        header=header, label="Seats", field_name="Seats", field_type="whole_number"
    )
    db.session.add_all([tab, header, field])
    db.session.commit()
    return field


def test_custom_fields_are_checked_by_their_type_and_stored(client, db, seats):
    form = make_form(
        db, fields=(("email", {"required": True}), (f"custom:{seats.id}", {}))
    )

    bad = submit(client, form, {"email": "a@example.com", f"custom:{seats.id}": "many"})
    assert bad.status_code == 400
    assert "Seats: enter a whole number" in bad.get_data(as_text=True)
    assert count(db, Contact) == 0

    good = submit(
        client, form, {"email": "a@example.com", f"custom:{seats.id}": "1,200"}
    )
    assert good.status_code == 200
    contact = db.session.scalars(select(Contact)).one()
    assert [v.value for v in contact.custom_values] == ["1200"]


def test_a_user_field_is_never_offered_to_visitors(db):
    from crm.webforms import fields as catalogue

    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Facts")
    field = CustomField(
        header=header, label="Account manager", field_name="Am", field_type="user"
    )
    db.session.add_all([tab, header, field])
    db.session.commit()

    assert f"custom:{field.id}" not in dict(catalogue.key_choices())
    with pytest.raises(ServiceError, match="Choose the contact field of every row"):
        make_form(
            db, fields=(("email", {"required": True}), (f"custom:{field.id}", {}))
        )
    assert catalogue.custom_field_of("custom:\u00b2") is None


@pytest.mark.parametrize("kind", ["month"])
@pytest.mark.parametrize("value", ["\u00b2", "9" * 5000])
def test_odd_digits_in_a_month_field_are_a_field_error(client, db, kind, value):
    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Facts")
    field = CustomField(header=header, label="Pick", field_name="Pick", field_type=kind)
    db.session.add_all([tab, header, field])
    db.session.commit()
    form = make_form(
        db, fields=(("email", {"required": True}), (f"custom:{field.id}", {}))
    )

    response = submit(client, form, {**JANE, f"custom:{field.id}": value})

    assert response.status_code == 400
    assert "Pick: " in response.get_data(as_text=True)
    assert count(db, Contact) == 0


@pytest.mark.parametrize("value", ["http://[shop.example", "https://[::1/x"])
def test_a_website_that_does_not_parse_is_a_field_error(client, db, value):
    tab = CustomTab(name="Extra")
    header = CustomHeader(tab=tab, name="Facts")
    field = CustomField(
        header=header, label="Site", field_name="Site", field_type="website"
    )
    db.session.add_all([tab, header, field])
    db.session.commit()
    form = make_form(
        db, fields=(("email", {"required": True}), (f"custom:{field.id}", {}))
    )

    response = submit(client, form, {**JANE, f"custom:{field.id}": value})

    assert response.status_code == 400
    assert "Site: enter a web address" in response.get_data(as_text=True)
    assert count(db, Contact) == 0


def test_website_and_birthday_follow_the_record_rules(client, db):
    fields = (("email", {"required": True}), ("website", {}), ("birthday", {}))
    form = make_form(db, fields=fields)

    response = submit(
        client,
        form,
        {
            "email": "jane@example.com",
            "website": "javascript:alert(1)",
            "birthday": "2999-01-01",
        },
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not a web address; enter one such as https://example.com." in page
    assert "The birthday 2999-01-01 lies in the future." in page
    assert count(db, Contact) == 0

    response = submit(
        client,
        form,
        {"email": "jane@example.com", "website": "example.com", "birthday": ""},
    )
    assert response.status_code in (200, 302, 303), response.get_data(as_text=True)
    contact = db.session.scalar(select(Contact))
    assert contact.website == "https://example.com"


def test_bad_input_answers_with_each_field_error_keeps_values_writes_nothing(
    client, db
):
    fields = (
        ("email", {"required": True}),
        ("given_name", {"required": True}),
        ("phone", {}),
        ("birthday", {}),
        ("billing.country_code", {}),
    )
    form = make_form(db, fields=fields)
    before = (count(db, Contact), count(db, Submission), count(db, ActivityEvent))

    response = submit(
        client,
        form,
        {
            "email": "not-an-address",
            "given_name": "",
            "phone": "call me maybe",
            "birthday": "31/02/1990",
            "billing.country_code": "Atlantis",
        },
    )

    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "is not an e-mail address" in page
    assert "First name is required." in page
    assert "is not a phone number we can read" in page
    assert "enter a date as YYYY-MM-DD" in page
    assert "is not a country" in page
    # What was typed is still in the form.
    assert 'value="not-an-address"' in page and 'value="call me maybe"' in page
    assert (
        count(db, Contact),
        count(db, Submission),
        count(db, ActivityEvent),
    ) == before


def test_nul_characters_anywhere_in_a_submission_are_dropped(client, db):
    form = make_form(db)
    response = client.post(
        f"/f/{form.slug}",
        data={
            "_token": token_of(client, form),
            "email": "nul@example.com",
            "given_name": "Ja\x00ne",
            "utm_source": "ne\x00ws",
            "_page": f"{SITE}/\x00",
        },
        headers={"User-Agent": "Bot\x00", "Referer": f"{SITE}/\x00"},
    )

    assert response.status_code == 200, response.get_data(as_text=True)
    contact = db.session.scalars(select(Contact)).one()
    submission = db.session.scalars(select(Submission)).one()
    assert contact.given_name == "Jane"
    assert (submission.utm, submission.user_agent, submission.page_url) == (
        {"utm_source": "news"},
        "Bot",
        f"{SITE}/",
    )


def test_hidden_fields_store_their_fixed_value_whatever_is_posted(client, db):
    fields = (
        ("email", {"required": True}),
        ("lead_source", {"hidden": True, "fixed_value": "Spring fair"}),
    )
    form = make_form(db, fields=fields)

    page = client.get(f"/f/{form.slug}").get_data(as_text=True)
    assert "Spring fair" not in page
    submit(client, form, {"email": "a@example.com", "lead_source": "Forged"})

    assert db.session.scalars(select(Contact)).one().lead_source == "Spring fair"


def test_a_new_contact_needs_a_way_to_reach_it(client, db):
    form = make_form(db, fields=(("given_name", {}),), duplicate_rule="none")

    response = submit(client, form, {"given_name": "Nobody"})

    assert response.status_code == 400
    assert "needs an e-mail address, a phone number or an address" in (
        response.get_data(as_text=True)
    )
    assert count(db, Contact) == count(db, Submission) == 0


@pytest.mark.parametrize(
    ("target", "allowed"),
    [
        (SITE + "/thanks", True),
        (SITE + "/", True),
        ("https://www.example.com.evil.test/thanks", False),
        ("https://evil.test/thanks", False),
        ("javascript:alert(1)", False),
        ("//evil.test/", False),
        (SITE + "/../admin", False),
    ],
)
def test_a_redirect_must_start_with_an_allowed_address(db, target, allowed):
    form = WebForm(
        name="R", exit="redirect", redirect_url=target, allowed_urls=SITE + "/"
    )
    form.fields.append(WebFormField(key="email"))
    if allowed:
        services.check_form(form)
    else:
        with pytest.raises(ServiceError, match="must start with one of the allowed"):
            services.check_form(form)


def test_a_redirecting_form_sends_the_visitor_to_the_checked_address(client, db):
    form = make_form(db, exit="redirect", redirect_url=SITE + "/thanks?x=1")

    response = submit(client, form, JANE)

    assert response.status_code == 303
    assert response.headers["Location"] == SITE + "/thanks?x=1"
    assert count(db, Contact) == 1


def test_the_admin_screen_refuses_a_redirect_elsewhere(web, db, admin_user):
    web.login(admin_user.email)

    response = web.post(
        "/admin/webform/new/",
        {
            "name": "Bad",
            "active": "y",
            "duplicate_rule": "email",
            "min_fill_seconds": "3",
            "exit": "redirect",
            "redirect_url": "https://evil.test/",
            "allowed_urls": SITE + "/",
            "fields-0-key": "email",
            "fields-0-position": "1",
        },
        follow_redirects=True,
    )

    assert "must start with one of the allowed addresses" in response.get_data(
        as_text=True
    )
    assert count(db, WebForm) == 0


def test_the_admin_builds_a_form_and_sees_its_address_and_embed_code(
    web, db, admin_user
):
    web.login(admin_user.email)
    blank = web.get("/admin/webform/new/").get_data(as_text=True)
    slug_input = re.search(r'<input[^>]*id="slug"[^>]*>', blank).group(0)
    assert "required" not in slug_input

    web.post(
        "/admin/webform/new/",
        {
            "name": "Contact us",
            "active": "y",
            "duplicate_rule": "email",
            "min_fill_seconds": "3",
            "exit": "message",
            "thank_you": "Thanks!",
            "allowed_urls": SITE + "/",
            "fields-0-key": "email",
            "fields-0-position": "1",
            "fields-0-required": "y",
            "fields-1-key": "given_name",
            "fields-1-position": "2",
        },
    )

    form = db.session.scalars(select(WebForm)).one()
    assert len(form.slug) == 12 and [f.key for f in form.fields] == [
        "email",
        "given_name",
    ]
    assert [f.label for f in form.fields] == ["E-mail", "First name"]
    page = web.get(f"/admin/webform/details/?id={form.id}").get_data(as_text=True)
    assert f"/f/{form.slug}/embed.js" in page
    assert "&lt;script src=" in page


def test_only_administrators_reach_the_form_screens(login_as, web, db):
    login_as("user")
    for url in ("/admin/webform/", "/admin/webform_submission/", "/admin/checkout/"):
        assert web.get(url).status_code == 403


def test_an_inactive_or_unknown_form_is_not_found(client, db):
    form = make_form(db, active=False)
    assert client.get(f"/f/{form.slug}").status_code == 404
    assert client.get("/f/nosuchform").status_code == 404
    assert client.post(f"/f/{form.slug}", data=JANE).status_code == 404


def test_a_form_for_a_campaign_goal_starts_its_sequence(client, db):
    from crm.automation import campaigns
    from crm.automation import services as automation
    from tests.automation_helpers import add_goal, make_campaign, make_sequence

    form = make_form(db)
    other = make_form(db, name="Other")
    campaign = make_campaign(db)
    sequence = make_sequence(
        db,
        "Welcome",
        campaign=campaign,
        position=2,
        steps=[("none", None, "apply_tag", {"tag_id": 999})],
    )
    add_goal(db, campaign, "form_submitted", 1, sequence, form_id=form.id)
    campaigns.publish(campaign)
    db.session.commit()

    submit(client, other, {"email": "other@example.com"})
    submit(client, form, JANE)

    jane = db.session.scalar(select(Contact).where(Contact.given_name == "Jane"))
    other_contact = db.session.scalar(
        select(Contact).where(Contact.primary_email == "other@example.com")
    )
    assert automation.enrollment_for(jane.id, sequence.id) is not None
    assert automation.enrollment_for(other_contact.id, sequence.id) is None


def test_score_rules_score_the_form_or_any_form(client, db):
    from crm.scoring import services as scoring
    from crm.scoring.models import ScoreRule

    form = make_form(db)
    other = make_form(db, name="Other")
    db.session.add_all(
        [
            ScoreRule(
                name="This form",
                trigger="form_submitted",
                target=f"form:{form.id}",
                points=3,
            ),
            ScoreRule(
                name="Other form",
                trigger="form_submitted",
                target=f"form:{other.id}",
                points=5,
            ),
            ScoreRule(name="Any form", trigger="form_submitted", points=1),
        ]
    )
    db.session.commit()

    submit(client, form, JANE)

    jane = db.session.scalars(select(Contact)).one()
    assert scoring.score_of(jane.id) == 4
    assert (f"form:{form.id}", "Newsletter") in scoring_targets()


def scoring_targets():
    from crm.scoring import triggers

    return triggers.get("form_submitted").targets()


def test_a_referral_cookie_credits_the_partner(app, db, make_contact):
    from crm.partners import services as partners
    from crm.partners.models import Referral, TrackingDestination

    db.session.add(TrackingDestination(prefix=SITE))
    partner = partners.create_partner(
        make_contact("Pat", "Partner"), "PAT1", status="active"
    )
    db.session.commit()
    form = make_form(db)
    browser = app.test_client()
    assert browser.get("/r/PAT1", query_string={"to": SITE + "/"}).status_code == 302

    submit(browser, form, JANE)

    jane = db.session.scalar(select(Contact).where(Contact.given_name == "Jane"))
    referral = db.session.scalars(
        select(Referral).where(Referral.contact_id == jane.id)
    ).one()
    assert referral.partner_id == partner.id
    assert referral.source == "web form: Newsletter"


def test_a_known_visitor_id_is_announced_with_the_contact(client, db):
    heard = []

    def listener(sender, contact, visitor_id):
        heard.append((contact.id, visitor_id))

    visitor_identified.connect(listener)
    try:
        form = make_form(db)
        submit(client, form, JANE, vid="v_abc123")
        submit(client, form, {"email": "x@example.com", "_vid": "bad id!"})
    finally:
        visitor_identified.disconnect(listener)

    jane = db.session.scalar(select(Contact).where(Contact.given_name == "Jane"))
    assert heard == [(jane.id, "v_abc123")]
    assert db.session.scalars(select(Submission.visitor_id)).all() == ["v_abc123", ""]


def test_the_notified_user_gets_a_mail_after_the_commit(
    app, client, db, make_user, smtp_server
):
    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    sam = make_user("sam@example.com", name="Sam")
    form = make_form(db, notify_user=sam)

    submit(client, form, JANE)

    message = smtp_server.wait_for(1)[0]
    assert message["To"] == "Sam <sam@example.com>"
    assert "Newsletter" in message["Subject"]
    assert "Jane Doe" in message.get_content()


def test_double_opt_in_leaves_the_address_unconfirmed_and_sends_the_link(
    app, client, db, smtp_server
):
    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    form = make_form(db, double_opt_in=True)

    submit(client, form, JANE)

    assert mail.find_status("jane@example.com").status == "NON_MARKETABLE"
    message = smtp_server.wait_for(1)[0]
    assert message["To"] == "jane@example.com"
    assert "/m/confirm/" in message.get_body(("html",)).get_content()


def test_a_mail_problem_after_the_commit_loses_nothing(client, db, make_user):
    # No MAIL_URL: the notification cannot go out, the contact is still saved.
    form = make_form(db, notify_user=make_user("sam@example.com"))

    response = submit(client, form, JANE)

    assert response.status_code == 200
    assert count(db, Contact) == 1


def test_an_unknown_form_tells_a_visitor_only_that_the_page_does_not_exist(client):
    response = client.get("/f/nosuchform")
    page = response.get_data(as_text=True)
    assert response.status_code == 404
    assert "This page does not exist." in page
    assert "Back to contacts" not in page and "Record not found" not in page
