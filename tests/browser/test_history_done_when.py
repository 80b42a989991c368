"""Issue 4's "Done when", in real Chromium: an e-mail sent from a record is
opened and clicked, both show on the Tasks tab and the lead score moves on the
Recent & scored activity tab."""

from urllib.parse import urlsplit

import pytest

from tests.access_helpers import quick_user
from tests.mail_helpers import html_of, paths

pytestmark = pytest.mark.browser


def _score(page, live_server, contact_id):
    page.goto(f"{live_server}/admin/contact/details/?id={contact_id}&tab=activity")
    return int(page.inner_text("#score-total"))


def test_sent_mail_opened_and_clicked_shows_in_history_and_moves_the_score(
    app, db, make_contact, live_server, page, sign_in, smtp_server
):
    from crm.scoring.models import ScoreRule

    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    db.session.add_all(
        [
            ScoreRule(name="Opened an e-mail", trigger="email_opened", points=3),
            ScoreRule(name="Clicked a link", trigger="email_clicked", points=5),
        ]
    )
    db.session.commit()
    user = quick_user(db, "b@example.com", name="Bee")
    contact = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
    sign_in(page, live_server, user.email)
    assert _score(page, live_server, contact.id) == 0

    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}&tab=tasks")
    page.click("#send-email")
    page.select_option("#to", str(contact.emails[0].id))
    page.fill("#subject", "Hello {{ contact.given_name }}")
    page.fill("#body", f'<p>See <a href="{live_server}/healthz">our status</a></p>')
    page.click("#send-email")
    page.wait_for_load_state()
    assert "E-mail sent to jane@example.com." in page.content()

    [received] = smtp_server.wait_for(1)
    html = html_of(received)
    [pixel] = paths(html, "o/")
    [click] = paths(html, "c/")
    assert page.goto(f"{live_server}{pixel}").headers["content-type"] == "image/gif"
    landed = page.goto(f"{live_server}{click}")
    assert urlsplit(landed.url).path == "/healthz"

    page.goto(f"{live_server}/admin/contact/details/?id={contact.id}&tab=tasks")
    sent = page.locator('#history .history-item[data-kind="email_sent"]')
    assert sent.count() == 1
    assert "Hello Jane" in sent.inner_text()
    assert "Opened once" in sent.locator(".mail-opens").inner_text()
    assert "Clicked once" in sent.locator(".mail-clicks").inner_text()

    assert _score(page, live_server, contact.id) == 8
    rules = page.inner_text("#score-entries")
    assert "Opened an e-mail" in rules and "Clicked a link" in rules
