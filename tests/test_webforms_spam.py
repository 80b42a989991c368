"""Spam rules of the public forms: the signed render token, the honeypot, the
minimum fill time and the rate limits, and the review of held submissions;
plus the embed script and the framing policy."""

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.webforms import spam
from crm.webforms.models import Submission
from tests.webform_helpers import SITE, make_form, submit, token_of

JANE = {"email": "jane@example.com", "given_name": "Jane", "family_name": "Doe"}


def count(db, model, *where):
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


class Clock:
    def __init__(self, start=1_800_000_000.0):
        self.value = start

    def __call__(self):
        return self.value


@pytest.fixture
def clock(monkeypatch):
    fixed = Clock()
    monkeypatch.setattr(spam, "now", fixed)
    return fixed


def test_a_filled_honeypot_holds_the_submission_without_a_contact(client, db):
    form = make_form(db)

    response = submit(client, form, {**JANE, spam.HONEYPOT: "http://spam.test"})

    # The visitor (or bot) sees the usual thanks; nothing tells it was held.
    assert response.status_code == 200
    assert "Thank you" in response.get_data(as_text=True)
    held = db.session.scalars(select(Submission)).one()
    assert (held.state, held.hold_reason, held.contact_id) == ("held", "honeypot", None)
    assert held.data["email"] == "jane@example.com"
    assert count(db, Contact) == 0


def test_a_form_sent_sooner_than_the_minimum_fill_time_is_held(client, db, clock):
    form = make_form(db, min_fill_seconds=3)
    token = token_of(client, form)

    clock.value += 2.5
    fast = client.post(f"/f/{form.slug}", data={"_token": token, **JANE})
    clock.value += 1
    slow = client.post(
        f"/f/{form.slug}", data={"_token": token, **JANE, "email": "slow@example.com"}
    )

    assert fast.status_code == slow.status_code == 200
    states = db.session.execute(
        select(Submission.email, Submission.state, Submission.hold_reason).order_by(
            Submission.id
        )
    ).all()
    assert states == [
        ("jane@example.com", "held", "too_fast"),
        ("slow@example.com", "processed", ""),
    ]
    assert count(db, Contact) == 1


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "eyJmIjoxLCJ0IjoxfQ.forged"],
)
def test_a_missing_or_forged_token_is_refused_and_writes_nothing(client, db, token):
    form = make_form(db)

    response = client.post(f"/f/{form.slug}", data={"_token": token, **JANE})

    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "This form has expired" in page
    assert 'value="jane@example.com"' in page
    assert count(db, Submission) == count(db, Contact) == 0


def test_a_token_is_bound_to_its_form_and_expires(client, db, clock, app):
    first, second = make_form(db), make_form(db, name="Second")
    token = token_of(client, first)

    other = client.post(f"/f/{second.slug}", data={"_token": token, **JANE})
    clock.value += app.config.get("WEBFORMS_TOKEN_MAX_AGE", 86400) + 1
    late = client.post(f"/f/{first.slug}", data={"_token": token, **JANE})

    assert other.status_code == late.status_code == 400
    assert count(db, Submission) == 0


def test_past_the_soft_limit_per_address_submissions_are_held(app, client, db):
    app.config.update(
        WEBFORMS_SOFT_LIMIT_PER_ADDRESS=2, WEBFORMS_HARD_LIMIT_PER_ADDRESS=4
    )
    form = make_form(db)

    answers = [
        submit(client, form, {**JANE, "email": f"p{i}@example.com"}).status_code
        for i in range(5)
    ]

    assert answers == [200, 200, 200, 200, 429]
    states = db.session.scalars(select(Submission.state).order_by(Submission.id)).all()
    assert states == ["processed", "processed", "held", "held"]
    assert count(db, Contact) == 2


def test_the_per_form_limit_counts_every_address(app, db):
    app.config.update(WEBFORMS_SOFT_LIMIT_PER_FORM=1, WEBFORMS_HARD_LIMIT_PER_FORM=2)
    form = make_form(db)

    answers = []
    for i in range(3):
        visitor = app.test_client()
        visitor.environ_base["REMOTE_ADDR"] = f"10.0.0.{i + 1}"
        answers.append(
            submit(visitor, form, {"email": f"p{i}@example.com"}).status_code
        )

    assert answers == [200, 200, 429]
    assert db.session.scalars(
        select(Submission.state).order_by(Submission.id)
    ).all() == [
        "processed",
        "held",
    ]


def test_a_refused_submission_says_why_and_stores_nothing(app, client, db):
    app.config.update(WEBFORMS_HARD_LIMIT_PER_ADDRESS=0)
    form = make_form(db)

    response = submit(client, form, JANE)

    assert response.status_code == 429
    assert "Too many submissions" in response.get_data(as_text=True)
    assert response.headers["Retry-After"] == "600"
    assert count(db, Submission) == count(db, Contact) == 0


def _held(db, client, form, **data):
    submit(client, form, {**JANE, **data, spam.HONEYPOT: "x"})
    return db.session.scalars(select(Submission).order_by(Submission.id.desc())).first()


def test_an_administrator_approves_a_held_submission_into_a_contact(
    web, db, admin_user
):
    form = make_form(db)
    held = _held(db, web.client, form)
    web.login(admin_user.email)

    listing = web.get(
        "/admin/webform_submission/", query_string={"flt0_state_equals": "held"}
    ).get_data(as_text=True)
    assert "jane@example.com" in listing and "hidden field filled" in listing
    response = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert "1 submission(s) approved." in response.get_data(as_text=True)
    db.session.expire_all()
    held = db.session.get(Submission, held.id)
    contact = db.session.scalars(select(Contact)).one()
    assert (held.state, held.contact_id) == ("processed", contact.id)
    assert contact.given_name == "Jane"


def test_a_discarded_submission_never_becomes_a_contact(web, db, admin_user):
    form = make_form(db)
    held = _held(db, web.client, form)
    web.login(admin_user.email)

    web.post(
        "/admin/webform_submission/action/",
        {"action": "discard", "rowid": str(held.id)},
    )
    again = web.post(
        "/admin/webform_submission/action/",
        {"action": "approve", "rowid": str(held.id)},
        follow_redirects=True,
    )

    assert "Only held submissions can be approved." in again.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Submission, held.id).state == "discarded"
    assert count(db, Contact) == 0


def test_the_submissions_list_of_a_form_shows_only_that_form(web, db, admin_user):
    first, second = make_form(db), make_form(db, name="Second")
    submit(web.client, first, JANE)
    submit(web.client, second, {"email": "other@example.com"})
    web.login(admin_user.email)

    page = web.get(
        "/admin/webform_submission/", query_string={"flt0_form_equals": first.id}
    ).get_data(as_text=True)

    assert "jane@example.com" in page and "other@example.com" not in page


# Embedding ----------------------------------------------------------------------


def test_the_embed_script_frames_the_form_with_the_visitor_id(client, db):
    form = make_form(db, title="Join us")

    response = client.get(f"/f/{form.slug}/embed.js")

    script = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    assert f'"http://localhost/f/{form.slug}"' in script
    assert "window.crmVisitorId" in script and '"Join us"' in script


def test_only_the_allowed_origins_may_frame_the_form(client, db):
    form = make_form(db, allowed_urls=f"{SITE}/shop\nhttps://partner.example.org:8443/")

    page = client.get(f"/f/{form.slug}", query_string={"embed": "1", "vid": "v1"})

    policy = page.headers["Content-Security-Policy"]
    assert f"frame-ancestors {SITE} https://partner.example.org:8443;" in policy
    assert "X-Frame-Options" not in page.headers
    assert 'name="_vid" value="v1"' in page.get_data(as_text=True)
    # Every other page still refuses to be framed.
    other = client.get("/login")
    assert "frame-ancestors 'none'" in other.headers["Content-Security-Policy"]
    assert other.headers["X-Frame-Options"] == "DENY"


def test_a_form_without_allowed_origins_cannot_be_framed(client, db):
    form = make_form(db, allowed_urls="")

    page = client.get(f"/f/{form.slug}")

    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Frame-Options"] == "DENY"


def test_allowed_addresses_must_be_absolute_web_addresses(db):
    from crm.core.errors import ServiceError

    with pytest.raises(ServiceError, match="is not an absolute http"):
        make_form(db, allowed_urls="javascript:alert(1)")


def test_the_thanks_page_in_a_frame_tells_the_host_its_height(client, db):
    form = make_form(db)

    framed = submit(client, form, {**JANE, "_embed": "1"})
    hosted = submit(client, form, {**JANE, "email": "other@example.com"})

    assert "crmForm" in framed.get_data(as_text=True)
    assert "crmForm" not in hosted.get_data(as_text=True)


def test_a_submission_another_reviewer_just_approved_is_not_processed_again(
    web, db, admin_user
):
    from crm.core.errors import ServiceError
    from crm.webforms import services

    form = make_form(db)
    held = _held(db, web.client, form)
    assert held.state == "held"  # this reviewer's copy, loaded before
    # Meanwhile the other reviewer's approval commits.
    db.session.execute(
        db.update(Submission)
        .where(Submission.id == held.id)
        .values(state="processed")
        .execution_options(synchronize_session=False)
    )
    db.session.flush()

    with pytest.raises(ServiceError, match="Only held submissions can be approved"):
        services.approve(held, admin_user)
    db.session.rollback()
    assert count(db, Contact) == 0
