"""The record tabs in real Chromium: scripts run under the page's strict CSP."""

import shutil
import threading

import pytest
from werkzeug.serving import make_server

from tests.access_helpers import quick_user
from tests.conftest import PASSWORD
from tests.test_weather import weather_server  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture
def live(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip("Chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox"]
        )
        yield browser.new_page()
        browser.close()


def test_weather_loads_and_inline_rows_are_added_in_the_browser(
    app,
    db,
    make_contact,
    live,
    page,
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

    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )
    page.goto(f"{live}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/contact/")
    # The list page is not ours to judge here; only the record pages count.
    blocked.clear()

    page.goto(f"{live}/admin/contact/details/?id={contact.id}")
    page.wait_for_selector("#weather-now")
    assert "21 °C" in page.inner_text("#weather-panel")

    page.goto(f"{live}/admin/contact_general/edit/?id={contact.id}")
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
