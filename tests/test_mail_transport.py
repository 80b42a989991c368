"""Transport settings: SMTP, the demo outbox, unset outside demo, send-test."""

import pytest
from sqlalchemy import select

from crm.mail import services
from crm.mail.models import Message
from tests.mail_helpers import compose
from tests.mailserver import _free_port


@pytest.fixture
def jane(make_contact, login_as):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=login_as())


def test_demo_mode_without_a_server_keeps_messages_in_the_outbox(app, db, web, jane):
    app.config.update(DEMO=True, MAIL_URL=None)
    response = compose(web, jane, subject="Demo hello")
    assert response.status_code == 302
    message = db.session.scalar(select(Message))
    assert message.state == "outbox"

    outbox = web.get("/admin/outbox/").get_data(as_text=True)
    assert "Demo hello" in outbox
    detail = web.get(f"/admin/outbox/details/?id={message.id}").get_data(as_text=True)
    assert "Demo hello" in detail and "jane@example.com" in detail


def test_outbox_shows_kinds_states_and_times_in_words(app, db, web, jane):
    app.config.update(DEMO=True, MAIL_URL=None)
    compose(web, jane, subject="Demo hello")
    message = db.session.scalar(select(Message))

    outbox = web.get("/admin/outbox/").get_data(as_text=True)
    detail = web.get(f"/admin/outbox/details/?id={message.id}").get_data(as_text=True)

    for page in (outbox, detail):
        assert "One-to-one" in page and "In the outbox" in page
        assert "one_to_one" not in page
    assert message.created_at.strftime("%Y-%m-%d %H:%M UTC") in detail
    assert str(message.created_at) not in detail


def test_the_outbox_lists_only_outbox_messages(app, db, web, jane, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url)
    compose(web, jane, subject="Really sent")
    smtp_server.wait_for(1)
    app.config.update(DEMO=True, MAIL_URL=None)
    compose(web, jane, subject="Only in outbox")
    page = web.get("/admin/outbox/").get_data(as_text=True)
    assert "Only in outbox" in page and "Really sent" not in page


def test_without_a_server_outside_demo_sending_says_mail_is_not_configured(
    app, db, web, jane
):
    app.config.update(DEMO=False, MAIL_URL=None)
    response = compose(web, jane)
    assert "E-mail is not configured: set CRM_MAIL_URL" in response.get_data(
        as_text=True
    )
    assert db.session.scalar(select(Message)) is None


def test_send_test_delivers_through_the_configured_server(app, runner, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    result = runner.invoke(args=["mail", "send-test", "--to", "ops@example.com"])
    assert result.exit_code == 0, result.output
    assert "Sent a test message to ops@example.com" in result.output
    [received] = smtp_server.wait_for(1)
    assert received["To"] == "ops@example.com"


def test_send_test_unconfigured_exits_non_zero_with_the_sentence(app, runner):
    app.config.update(DEMO=False, MAIL_URL=None)
    result = runner.invoke(args=["mail", "send-test", "--to", "ops@example.com"])
    assert result.exit_code != 0
    assert "E-mail is not configured: set CRM_MAIL_URL" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://127.0.0.1:{port}", "could not be reached"),
        ("ftp://127.0.0.1:{port}", "must start with smtp://"),
    ],
)
def test_send_test_reports_the_transport_error(app, runner, url, expected):
    app.config.update(MAIL_URL=url.format(port=_free_port()))
    result = runner.invoke(args=["mail", "send-test", "--to", "ops@example.com"])
    assert result.exit_code != 0
    assert expected in result.output and "Traceback" not in result.output


def test_send_test_reports_a_refusal(app, runner, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url)
    smtp_server.refuse_with = "550 5.1.1 No such user"
    result = runner.invoke(args=["mail", "send-test", "--to", "nobody@example.com"])
    assert result.exit_code != 0
    assert "refused the message: 550 5.1.1 No such user" in result.output


def test_notify_user_sends_a_system_message_to_a_crm_user(
    app, db, make_user, smtp_server
):
    app.config.update(MAIL_URL=smtp_server.url)
    user = make_user("rep@example.com", name="Rita Rep")
    message = services.notify_user(user, "Task due", "Call Jane at 3 pm.")
    db.session.commit()
    [received] = smtp_server.wait_for(1)
    assert "rep@example.com" in received["To"] and received["Subject"] == "Task due"
    assert "Call Jane at 3 pm." in received.get_content()
    assert message.state == "sent" and message.contact_id is None


@pytest.mark.parametrize(
    ("url", "scheme", "port", "user"),
    [
        ("smtp://mail.test:2525", "smtp", 2525, None),
        (
            "smtp+starttls://me%40x.test:p%3Ass@mail.test",
            "smtp+starttls",
            587,
            "me@x.test",
        ),
        ("smtps://u:p@mail.test", "smtps", 465, "u"),
    ],
)
def test_mail_urls_are_read_with_their_defaults(url, scheme, port, user):
    from crm.mail.transport import parse_url

    settings = parse_url(url)
    assert (settings.scheme, settings.port, settings.username) == (scheme, port, user)
