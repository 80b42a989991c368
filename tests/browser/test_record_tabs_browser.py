"""In real Chromium: the record's scripts run under the page's strict CSP."""

import pytest

from tests.access_helpers import quick_user
from tests.test_weather import weather_server  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser


def test_weather_loads_and_inline_rows_are_added(
    app,
    db,
    make_contact,
    live_server,
    page,
    sign_in,
    weather_server,  # noqa: F811
):
    from crm.contacts.models import Contact, ContactAddress

    app.config.update(
        WEATHER_URL=weather_server.url, WEATHER_GEOCODE_URL=weather_server.url
    )
    user = quick_user(db, "b@example.com", name="Bee")
    contact = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    contact.billing_addresses.append(
        ContactAddress(kind="billing", locality="Berlin", country_code="DEU")
    )
    db.session.commit()
    sign_in(page, live_server, user.email)

    # Only the record pages count here, not the list the sign-in lands on.
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}")
    page.wait_for_selector("#weather-now")
    assert "21 °C" in page.inner_text("#weather-panel")

    page.goto(f"{live_server}/admin/contact_general/edit/?id={contact.id}")
    page.click("#emails-button")
    page.fill("#emails-1-address", "two@example.com")
    page.click("#emails-button")
    page.fill("#emails-2-address", "three@example.com")
    assert not page.is_visible("#emails-button")
    page.click("#save")
    page.wait_for_selector("#general-fields")
    assert "Contact saved." in page.content()
    assert blocked == []

    db.session.expire_all()
    emails = db.session.get(Contact, contact.id).emails
    assert [e.address for e in emails] == [
        "jane@example.com",
        "two@example.com",
        "three@example.com",
    ]
