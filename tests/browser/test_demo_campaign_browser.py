"""In real Chromium, with a real worker process: the demo tag sends the welcome.

A user applies the demo campaign's tag on the record's Tags tab; the worker
``flask scheduler run`` starts (a process of its own on the same database)
runs the first step, and the e-mail shows in Mail -> Outbox.
"""

import time

import pytest

from crm.automation.scheduler import child_settings, stop_workers
from crm.demo import campaign as demo
from crm.mail import services as mail
from tests.access_helpers import quick_user
from tests.automation_load import start_workers

pytestmark = pytest.mark.browser


@pytest.fixture
def app_config(app_config):
    # Demo mode without a mail server: e-mail goes to the outbox.
    return {**app_config, "DEMO": True, "MAIL_URL": None}


def test_applying_the_demo_tag_puts_the_welcome_in_the_outbox(
    app, db, make_contact, live_server, page, sign_in
):
    user = quick_user(db, "demo-user@example.com", name="Dana Demo", is_admin=True)
    jane = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    mail.opt_in("jane@example.com", "asked for the welcome series")
    demo.ensure_campaign()
    db.session.commit()
    workers = start_workers(child_settings(app), 1, batch=50, poll=0.2)
    try:
        sign_in(page, live_server, user.email)
        page.goto(f"{live_server}/admin/contact/details/?id={jane.id}&tab=tags")
        page.select_option("#apply-tag select", label=demo.TAG)
        page.click("#apply-tag button[type=submit]")
        page.wait_for_load_state()
        assert f"Tag {demo.TAG} applied." in page.content()

        # The worker polls every 0.2 s once its app is built (a few seconds).
        deadline = time.monotonic() + 60
        while True:
            page.goto(f"{live_server}/admin/outbox/")
            if "Welcome, Jane" in page.inner_text("body"):
                break
            assert time.monotonic() < deadline, "no welcome e-mail in the outbox"
            time.sleep(0.5)
        assert "jane@example.com" in page.inner_text("body")
    finally:
        stop_workers(workers)
