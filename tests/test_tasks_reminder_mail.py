"""Reminder e-mails through the mail domain's one send path, to a real SMTP server."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from tests.access_helpers import quick_user
from tests.mailserver import smtp_server  # noqa: F401  (fixture)
from tests.test_tasks_reminders import _appointment, _task

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def mail_app(app, smtp_server):  # noqa: F811
    app.config.update(MAIL_URL=smtp_server.url, MAIL_FROM="crm@example.com")
    return app


def test_send_due_mails_each_reminder_once(mail_app, db, make_contact, smtp_server):  # noqa: F811
    from crm.tasks import reminders

    user = quick_user(db, "me@example.com", name="Mia")
    jane = make_contact("Jane", "Doe", owner=user)
    _task(db, jane, user, "Call Jane", NOW + timedelta(minutes=10))
    _task(db, jane, user, "Later", NOW + timedelta(days=1))
    _appointment(db, jane, user, "Demo", NOW + timedelta(minutes=20))

    assert reminders.send_due(NOW) == 2
    assert reminders.send_due(NOW) == 0

    messages = smtp_server.wait_for(2)
    subjects = sorted(m["Subject"] for m in messages)
    assert subjects == ["Reminder: Call Jane", "Reminder: Demo"]
    assert all(m["To"] == "Mia <me@example.com>" for m in messages)
    body = next(m for m in messages if m["Subject"] == "Reminder: Call Jane")
    text = body.get_content()
    assert "Contact: Jane Doe" in text and "Due: 2026-06-01 12:10" in text
    assert len(smtp_server.messages) == 2


def test_a_refused_reminder_is_tried_again(mail_app, db, make_contact, smtp_server):  # noqa: F811
    from crm.tasks import reminders
    from crm.tasks.models import Task

    user = quick_user(db, "me@example.com")
    jane = make_contact(owner=user)
    task = _task(db, jane, user, "Call Jane", NOW + timedelta(minutes=10))
    smtp_server.refuse_with = "451 4.3.0 Try again later"

    assert reminders.send_due(NOW) == 0
    db.session.expire_all()
    assert db.session.get(Task, task.id).reminder_sent_at is None

    smtp_server.refuse_with = None
    assert reminders.send_due(NOW) == 1
    assert smtp_server.wait_for(1)[0]["Subject"] == "Reminder: Call Jane"


def test_cli_prints_how_many_were_sent(mail_app, db, runner, make_contact, smtp_server):  # noqa: F811
    user = quick_user(db, "me@example.com")
    jane = make_contact(owner=user)
    _task(db, jane, user, "Overdue call", datetime.now(UTC) - timedelta(hours=1))

    first = runner.invoke(args=["tasks", "remind"])
    second = runner.invoke(args=["tasks", "remind"])

    assert (first.exit_code, first.output) == (0, "1 reminder(s) sent.\n")
    assert (second.exit_code, second.output) == (0, "0 reminder(s) sent.\n")
    assert len(smtp_server.wait_for(1)) == 1


def test_cli_without_mail_settings_says_what_to_set(app, db, runner, make_contact):
    from crm.tasks.models import Task

    user = quick_user(db, "me@example.com")
    jane = make_contact(owner=user)
    task = _task(db, jane, user, "Overdue call", datetime.now(UTC) - timedelta(hours=1))

    result = runner.invoke(args=["tasks", "remind"])

    assert result.exit_code == 1
    assert "CRM_MAIL_URL" in result.output
    db.session.expire_all()
    assert (
        db.session.scalar(select(Task.reminder_sent_at).where(Task.id == task.id))
        is None
    )
