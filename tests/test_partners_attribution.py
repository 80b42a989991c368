"""Attribution: the cookie from a real tracking link, first or latest credit,
referral history without a cookie, and the tracking window on a fixed clock."""

from datetime import timedelta

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.partners import services, tracking
from crm.partners.models import PartnerSettings, Referral, TrackingDestination

SITE = "https://www.example.com"


@pytest.fixture
def site(db):
    db.session.add(TrackingDestination(prefix=SITE))
    db.session.commit()


@pytest.fixture
def make_partner(db, make_contact):
    def make(code, track_days=30, status="active"):
        partner = services.create_partner(
            make_contact(code, "Partner"), code, status=status, track_days=track_days
        )
        db.session.commit()
        return partner

    return make


@pytest.fixture
def click(app, site):
    """Follow a partner's tracking link in a fresh browser; returns the cookie."""

    def follow(code, browser=None):
        browser = browser or app.test_client()
        response = browser.get(f"/r/{code}", query_string={"to": SITE + "/offer"})
        assert response.status_code == 302
        cookie = browser.get_cookie(tracking.COOKIE_NAME)
        return cookie.value if cookie else None

    return follow


def settings(db, **values):
    row = db.session.get(PartnerSettings, 1)
    for key, value in values.items():
        setattr(row, key, value)
    db.session.commit()


def clicked_at(value):
    return tracking.read_cookie_value(value)[1]


def test_a_cookie_from_a_tracking_link_records_a_referral(
    db, make_contact, make_partner, click
):
    paula = make_partner("Paula1")
    cookie = click("Paula1")
    visitor = make_contact("Vera", "Visitor")

    referral = services.attribute(visitor.id, cookie, "form")
    db.session.commit()

    assert referral.partner_id == paula.id
    assert (referral.kind, referral.source) == ("cookie", "form")
    assert referral.referred_at == clicked_at(cookie)
    assert referral.expires_at == clicked_at(cookie) + timedelta(days=30)
    event = db.session.scalar(
        select(ActivityEvent).where(ActivityEvent.kind == "referral")
    )
    assert (event.contact_id, event.target) == (visitor.id, f"partner:{paula.id}")


def test_the_same_click_is_recorded_once(db, make_contact, make_partner, click):
    make_partner("Paula1")
    cookie = click("Paula1")
    visitor = make_contact()
    first = services.attribute(visitor.id, cookie, "form")
    again = services.attribute(visitor.id, cookie, "purchase")
    db.session.commit()
    assert first.id == again.id
    assert len(services.referrals_of(visitor.id)) == 1


def _forged(app, secret, payload):
    return URLSafeTimedSerializer(secret, salt="crm.partners.referral-cookie").dumps(
        payload
    )


@pytest.mark.parametrize(
    "kind",
    ["tampered", "other-secret", "other-salt", "garbage", "empty", "not-an-id"],
)
def test_cookies_that_are_not_genuine_are_ignored(
    app, db, make_contact, make_partner, click, kind
):
    paula = make_partner("Paula1")
    genuine = click("Paula1")
    values = {
        "tampered": genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB"),
        "other-secret": _forged(app, "another-secret", {"p": paula.id}),
        "other-salt": URLSafeTimedSerializer(app.config["SECRET_KEY"]).dumps(
            {"p": paula.id}
        ),
        "garbage": "not a cookie at all",
        "empty": "",
        "not-an-id": _forged(app, app.config["SECRET_KEY"], {"p": "1 OR 1=1"}),
    }
    visitor = make_contact()
    settings(db, use_history=False)
    assert services.attribute(visitor.id, values[kind], "form") is None
    assert services.referrals_of(visitor.id) == []


def test_a_cookie_for_another_partner_cannot_be_made_by_editing_the_payload(
    db, make_contact, make_partner, click
):
    import base64

    make_partner("Paula1")
    other = make_partner("Otto1")
    cookie = click("Paula1")
    payload, rest = cookie.split(".", 1)
    swapped = base64.urlsafe_b64encode(f'{{"p":{other.id}}}'.encode()).decode()
    forged = swapped.rstrip("=") + "." + rest
    assert payload != swapped.rstrip("=")
    settings(db, use_history=False)
    assert services.attribute(make_contact().id, forged, "form") is None


def test_the_tracking_window_ends_on_a_fixed_clock(
    db, make_contact, make_partner, click
):
    make_partner("Paula1", track_days=7)
    cookie = click("Paula1")
    at = clicked_at(cookie)
    settings(db, use_history=False)

    inside = make_contact("In", "Time")
    late = make_contact("Too", "Late")
    assert (
        services.attribute(
            inside.id, cookie, "form", now=at + timedelta(days=7) - timedelta(seconds=1)
        )
        is not None
    )
    assert (
        services.attribute(late.id, cookie, "form", now=at + timedelta(days=7)) is None
    )
    assert (
        services.attribute(late.id, cookie, "form", now=at + timedelta(days=400))
        is None
    )


def test_a_window_shortened_after_the_click_applies(
    db, make_contact, make_partner, click
):
    paula = make_partner("Paula1", track_days=30)
    cookie = click("Paula1")
    paula.track_days = 1
    db.session.commit()
    settings(db, use_history=False)
    at = clicked_at(cookie)
    assert (
        services.attribute(
            make_contact().id, cookie, "form", now=at + timedelta(days=2)
        )
        is None
    )


def test_an_unlimited_window_never_ends(db, make_contact, make_partner, click):
    make_partner("Paula1", track_days=None)
    cookie = click("Paula1")
    at = clicked_at(cookie)
    referral = services.attribute(
        make_contact().id, cookie, "form", now=at + timedelta(days=3000)
    )
    assert referral is not None and referral.expires_at is None


def test_an_inactive_partner_earns_nothing(db, make_contact, make_partner, click):
    paula = make_partner("Paula1")
    cookie = click("Paula1")
    paula.status = "inactive"
    db.session.commit()
    assert services.attribute(make_contact().id, cookie, "form") is None


def test_latest_credit_goes_to_the_last_click(
    db, app, make_contact, make_partner, click
):
    paula = make_partner("Paula1")
    otto = make_partner("Otto1")
    settings(db, credit="latest", use_history=True)
    visitor = make_contact()

    first = click("Paula1")
    services.attribute(
        visitor.id, first, "form", now=clicked_at(first) + timedelta(hours=1)
    )
    db.session.commit()
    later = click("Otto1")
    credited = services.attribute(
        visitor.id, later, "purchase", now=clicked_at(later) + timedelta(hours=2)
    )
    db.session.commit()
    assert credited.partner_id == otto.id
    kinds = [(r.partner_id, r.kind) for r in services.referrals_of(visitor.id)]
    assert kinds == [(paula.id, "cookie"), (otto.id, "cookie")]


def test_first_credit_stays_with_the_first_referrer(
    db, make_contact, make_partner, click
):
    paula = make_partner("Paula1")
    make_partner("Otto1")
    settings(db, credit="first", use_history=True)
    visitor = make_contact()

    first = click("Paula1")
    services.attribute(visitor.id, first, "form")
    db.session.commit()
    # The visitor clears cookies and clicks another partner's link.
    later = click("Otto1")
    credited = services.attribute(
        visitor.id, later, "purchase", now=clicked_at(later) + timedelta(hours=1)
    )
    db.session.commit()
    assert credited.partner_id == paula.id
    assert len(services.referrals_of(visitor.id)) == 2


def test_first_credit_in_one_browser_keeps_the_first_cookie(
    app, db, make_contact, make_partner, click
):
    paula = make_partner("Paula1")
    make_partner("Otto1")
    settings(db, credit="first", use_history=False)
    browser = app.test_client()
    click("Paula1", browser)
    cookie = click("Otto1", browser)
    credited = services.attribute(make_contact().id, cookie, "form")
    assert credited.partner_id == paula.id


def test_history_counts_without_a_cookie_when_the_setting_is_on(
    db, make_contact, make_partner, click
):
    paula = make_partner("Paula1")
    settings(db, use_history=True)
    visitor = make_contact()
    cookie = click("Paula1")
    services.attribute(visitor.id, cookie, "form")
    db.session.commit()

    credited = services.attribute(visitor.id, None, "purchase")
    assert credited is not None and credited.partner_id == paula.id
    # Nothing new is recorded for a visit without a cookie.
    assert len(services.referrals_of(visitor.id)) == 1


def test_history_does_not_count_when_the_setting_is_off(
    db, make_contact, make_partner, click
):
    make_partner("Paula1")
    visitor = make_contact()
    cookie = click("Paula1")
    services.attribute(visitor.id, cookie, "form")
    db.session.commit()
    settings(db, use_history=False)
    assert services.attribute(visitor.id, None, "purchase") is None
    assert services.attribute(visitor.id, "forged", "purchase") is None


def test_history_counts_manual_referrals_and_respects_their_expiry(
    db, make_contact, make_partner
):
    paula = make_partner("Paula1", track_days=10)
    visitor = make_contact()
    settings(db, use_history=True)
    manual = services.add_manual_referral(visitor, paula)
    db.session.commit()
    assert services.attribute(visitor.id, None, "purchase").id == manual.id
    after = manual.referred_at + timedelta(days=10)
    assert services.attribute(visitor.id, None, "purchase", now=after) is None


def test_a_permanent_referral_never_expires(db, make_contact, make_partner):
    paula = make_partner("Paula1", track_days=10)
    visitor = make_contact()
    permanent = services.add_manual_referral(visitor, paula, permanent=True)
    db.session.commit()
    later = permanent.referred_at + timedelta(days=5000)
    assert (
        services.attribute(visitor.id, None, "purchase", now=later).id == permanent.id
    )


def test_the_request_helper_reads_the_cookie_of_the_request(
    app, db, make_contact, make_partner, click
):
    paula = make_partner("Paula1")
    cookie = click("Paula1")
    visitor = make_contact()
    with app.test_request_context(
        "/", headers={"Cookie": f"{tracking.COOKIE_NAME}={cookie}"}
    ):
        referral = services.attribute_from_request(visitor.id, "purchase")
    assert referral.partner_id == paula.id
    db.session.commit()
    assert db.session.scalar(select(Referral.source)) == "purchase"


def test_a_partner_cannot_refer_itself(db, make_partner):
    from crm.core.errors import ServiceError

    paula = make_partner("Paula1")
    with pytest.raises(ServiceError, match="cannot refer itself"):
        services.add_manual_referral(paula.contact, paula)


def test_a_partner_following_its_own_link_is_not_its_own_referral(
    db, make_partner, click
):
    paula = make_partner("Paula1")
    cookie = click("Paula1")
    assert services.attribute(paula.contact_id, cookie, "form") is None
    assert services.referrals_of(paula.contact_id) == []


def test_the_feed_says_how_the_contact_was_referred(
    db, make_contact, make_partner, click
):
    from crm.activity import kinds

    make_partner("Paula1")
    visitor = make_contact()
    services.attribute(visitor.id, click("Paula1"), "form")
    event = db.session.scalar(
        select(ActivityEvent).where(ActivityEvent.contact_id == visitor.id)
    )
    assert event.subject == "Referred by Paula1"
    assert str(kinds.get("referral").describe(event)) == "How: Tracking link"
