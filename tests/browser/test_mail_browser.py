"""In real Chromium: write and send an e-mail from a record, then open and click.

The open and the click are asserted on the message's own detail page (the
Tasks tab that shows the feed belongs to the tasks branch).
"""

from urllib.parse import urlsplit

import pytest

from tests.access_helpers import quick_user
from tests.mail_helpers import html_of, paths

pytestmark = pytest.mark.browser


def test_compose_send_then_open_and_click_show_on_the_message(
    app, db, make_contact, live_server, page, sign_in, smtp_server
):
    from crm.mail.models import Message

    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    user = quick_user(db, "b@example.com", name="Bee")
    contact = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    sign_in(page, live_server, user.email)
    blocked = []
    page.on(
        "console",
        lambda m: blocked.append(m.text) if "Content Security Policy" in m.text else 0,
    )

    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}")
    assert "Jane Doe" in page.content()
    page.goto(f"{live_server}/admin/mail/compose/?contact_id={contact.id}")
    page.select_option("#to", str(contact.emails[0].id))
    page.fill("#subject", "Hello {{ contact.given_name }}")
    page.fill(
        "#body",
        f'<p>Our status page: <a href="{live_server}/healthz">health</a></p>',
    )
    page.click("#send-email")
    page.wait_for_load_state()
    assert "E-mail sent to jane@example.com." in page.content()

    [received] = smtp_server.wait_for(1)
    assert received["Subject"] == "Hello Jane"
    html = html_of(received)
    [pixel] = paths(html, "o/")
    [click] = paths(html, "c/")

    image = page.goto(f"{live_server}{pixel}")
    assert image.status == 200 and image.headers["content-type"] == "image/gif"
    landed = page.goto(f"{live_server}{click}")
    assert urlsplit(landed.url).path == "/healthz"

    message_id = db.session.query(Message.id).scalar()
    page.goto(f"{live_server}/admin/message/details/?id={message_id}")
    details = page.inner_text("table")
    rows = dict(line.split("\t", 1) for line in details.splitlines() if "\t" in line)
    assert rows["Opens"].strip() == "1"
    assert rows["Clicks"].strip() == "1"
    assert f"{live_server}/healthz" in rows["Clicked links"]
    assert blocked == []
