"""A body typed as plain text keeps its paragraphs, line breaks and links."""

import pytest

from tests.mail_helpers import compose, html_of, text_of


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def jane(make_contact, login_as):
    owner = login_as(name="Olivia Owner")
    return make_contact("Jane", "Doe", email="jane@example.com", owner=owner)


TYPED = (
    "Hi {{ contact.given_name }},\r\n"
    "\r\n"
    "the quote is at https://example.com/q?id=7&v=2.\r\n"
    "Prices < 100 & more.\r\n"
    "\r\n"
    "\r\n"
    "Regards,\r\n"
    "Olivia"
)


def test_plain_text_body_keeps_paragraphs_breaks_and_links(web, jane, smtp_server):
    compose(web, jane, body=TYPED)

    [received] = smtp_server.wait_for(1)
    assert text_of(received).replace("\r\n", "\n").rstrip("\n") == (
        "Hi Jane,\n"
        "\n"
        "the quote is at https://example.com/q?id=7&v=2.\n"
        "Prices < 100 & more.\n"
        "\n"
        "\n"
        "Regards,\n"
        "Olivia"
    )
    html = html_of(received).replace("\r\n", "\n")
    assert "<p>Hi Jane,</p>" in html
    assert "Prices &lt; 100 &amp; more.</p>" in html
    assert "<p>Regards,<br>\nOlivia</p>" in html
    # The link is tracked: its text is the address, its target a click URL.
    assert "https://example.com/q?id=7&amp;v=2</a>.<br>" in html
    assert '<a href="http' in html and "/m/c" in html


def test_merge_values_in_a_plain_body_are_escaped_in_html(db, web, jane, smtp_server):
    jane.given_name = "<b>Jane</b>"
    db.session.commit()

    compose(web, jane, body="Dear {{ contact.given_name }}")

    [received] = smtp_server.wait_for(1)
    assert "Dear &lt;b&gt;Jane&lt;/b&gt;" in html_of(received)
    assert "<b>Jane</b>" not in html_of(received)
    assert text_of(received).strip() == "Dear <b>Jane</b>"


def test_an_html_body_is_still_sent_as_html(web, jane, smtp_server):
    compose(web, jane, body="<p>One</p><p>Two</p>")

    [received] = smtp_server.wait_for(1)
    assert "<p>One</p><p>Two</p>" in html_of(received)
    assert "&lt;p&gt;" not in html_of(received)
