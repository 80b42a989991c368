"""In real Chromium: a tracking link's cookie as the browser keeps it, refused
destinations, and a manual referral added on the record tab under the CSP."""

import time

import pytest

from crm.partners import services, tracking
from crm.partners.models import PartnerSettings, TrackingDestination
from tests.access_helpers import quick_user
from tests.browser import conftest as browser

# The browser fixtures, shared with this module (it lives beside its domain's
# other tests rather than under tests/browser/).
chromium = browser.chromium
live_server = browser.live_server
new_page = browser.new_page
page = browser.page
sign_in = browser.sign_in

pytestmark = pytest.mark.browser


@pytest.fixture
def paula(db, make_contact, live_server):
    db.session.add(TrackingDestination(prefix=live_server))
    db.session.get(PartnerSettings, 1).landing_url = f"{live_server}/healthz?landing=1"
    partner = services.create_partner(
        make_contact("Paula", "Partner"), "Paula1", status="active", track_days=9
    )
    db.session.commit()
    return partner


def test_chromium_keeps_the_cookie_http_only_and_lax_and_it_attributes(
    db,
    make_contact,
    live_server,
    page,
    paula,
):
    page.goto(f"{live_server}/r/Paula1?to={live_server}/healthz")
    assert page.url == f"{live_server}/healthz"

    cookies = {c["name"]: c for c in page.context.cookies()}
    cookie = cookies[tracking.COOKIE_NAME]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert abs(cookie["expires"] - (time.time() + 9 * 86400)) < 120
    # Scripts on the page cannot read it.
    assert tracking.COOKIE_NAME not in page.evaluate("document.cookie")

    visitor = make_contact("Vera", "Visitor")
    referral = services.attribute(visitor.id, cookie["value"], "form")
    db.session.commit()
    assert referral.partner_id == paula.id


@pytest.mark.parametrize(
    "to", ["//evil.example", "javascript:alert(1)", "https://127.0.0.1.evil.example/"]
)
def test_chromium_lands_on_the_landing_page_for_a_refused_destination(
    live_server,
    page,
    paula,
    to,
):
    page.goto(
        f"{live_server}/r/Paula1?to={to}",
    )
    assert page.url == f"{live_server}/healthz?landing=1"


def test_an_editor_adds_a_manual_referral_in_chromium(
    db,
    make_contact,
    live_server,
    page,
    sign_in,
    paula,
):
    user = quick_user(db, "editor@example.com", name="Ed")
    jane = make_contact("Jane", "Doe", owner=user)
    paula.contact.owner = user
    db.session.commit()
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    sign_in(page, live_server, user.email)
    page.goto(f"{live_server}/admin/contact/details/?id={jane.id}&tab=referrals")
    page.select_option("#partner_id", str(paula.id))
    page.fill("#description", "Met at the fair")
    page.check("#permanent")
    page.click("#add-referral button[type=submit]")
    page.wait_for_selector("#referrals")
    row = page.inner_text("#referrals tbody tr")
    assert "Paula1" in row and "Permanent" in row and "Never" in row
    assert blocked == []
    assert [r.kind for r in services.referrals_of(jane.id)] == ["permanent"]
