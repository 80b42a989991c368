"""The demo's stand-alone sequence, started by hand from a contact's record."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.automation import engine, services
from crm.automation.models import DONE, Sequence
from crm.contacts.models import Contact, ContactEmail
from crm.core.db import utcnow
from crm.demo import campaign as demo
from crm.mail.models import Message
from crm.tasks.models import Task
from crm.webforms.models import WebForm


@pytest.fixture
def loaded(db, runner, app, tmp_path, monkeypatch):
    app.config["DEMO"] = True
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "instance"))
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return result


def test_the_demo_has_one_sales_call_sequence_after_two_loads(db, runner, loaded):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0

    [sequence] = db.session.scalars(
        select(Sequence).where(Sequence.campaign_id.is_(None))
    ).all()
    assert sequence.name == "After a sales call"
    assert [(s.timer_kind, s.action_kind) for s in sequence.steps] == [
        ("none", "create_task"),
        ("delay", "send_email"),
    ]
    assert sequence.steps[1].timer == {"amount": 1, "unit": "days"}


def test_starting_the_demo_sequence_makes_a_task_then_an_email_a_day_later(db, loaded):
    contact = db.session.scalar(
        select(Contact)
        .join(ContactEmail, ContactEmail.contact_id == Contact.id)
        .where(ContactEmail.normalized == "lucia.fernandez@example.org")
    )
    sequence = db.session.scalar(
        select(Sequence).where(Sequence.name == demo.SALES_CALL_SEQUENCE)
    )
    services.start(contact, sequence, None)
    db.session.commit()

    now = utcnow() + timedelta(seconds=1)
    assert engine.drain("w1", now=now) == {DONE: 1}
    task = db.session.scalar(select(Task).where(Task.contact_id == contact.id))
    assert task.title == "Write up the call with Lucía Fernández"
    assert task.assigned_to_id == contact.owner_id
    assert (
        db.session.scalar(
            select(func.count(Message.id)).where(Message.contact_id == contact.id)
        )
        == 0
    )

    assert engine.drain("w1", now=now + timedelta(days=1, minutes=1)) == {DONE: 1}
    [thanks] = db.session.scalars(
        select(Message).where(Message.contact_id == contact.id)
    ).all()
    assert (thanks.state, thanks.subject) == (
        "outbox",
        "Thank you for your time, Lucía",
    )


def test_the_demo_form_notifies_the_demo_administrator(db, loaded):
    form = db.session.scalar(select(WebForm).where(WebForm.slug == "demo-newsletter"))
    assert form.notify_user is not None and form.notify_user.is_admin
