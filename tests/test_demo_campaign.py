"""The demo's welcome campaign: loaded, published, and sending on its tag."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.automation import engine
from crm.automation.models import DONE, Campaign, StepRun
from crm.contacts.models import Contact, ContactEmail
from crm.core.db import utcnow
from crm.demo import campaign as demo
from crm.mail.models import EmailAddressStatus, Message
from crm.tags import services as tags
from crm.tasks.models import Task


@pytest.fixture
def demo_mode(app, tmp_path, monkeypatch):
    app.config["DEMO"] = True
    monkeypatch.setattr(app, "instance_path", str(tmp_path / "instance"))


@pytest.fixture
def loaded(db, runner, demo_mode):
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0, result.output
    return result


def lucia(db):
    return db.session.scalar(
        select(Contact)
        .join(ContactEmail, ContactEmail.contact_id == Contact.id)
        .where(ContactEmail.normalized == "lucia.fernandez@example.org")
    )


def test_the_demo_loader_publishes_the_welcome_campaign_once(db, runner, loaded):
    campaign = db.session.scalar(select(Campaign).where(Campaign.name == demo.CAMPAIGN))
    assert campaign.is_live
    [goal] = campaign.goals
    assert goal.kind == "tag_applied"
    assert goal.config == {"tag_id": tags.find_tag(demo.TAG).id}
    assert [(s.timer_kind, s.action_kind) for s in goal.sequence.steps] == [
        ("none", "send_email"),
        ("delay", "create_task"),
        ("none", "send_email"),
    ]
    statuses = set(db.session.scalars(select(EmailAddressStatus.status)))
    assert statuses == {"SINGLE_OPT_IN"}

    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    assert db.session.scalar(select(func.count(Campaign.id))) == 1


def test_applying_the_demo_tag_puts_the_welcome_in_the_outbox(db, loaded):
    contact = lucia(db)
    tags.apply_tag(contact, tags.find_tag(demo.TAG))
    db.session.commit()

    now = utcnow() + timedelta(seconds=1)
    assert engine.drain("w1", now=now) == {DONE: 1}

    [welcome] = db.session.scalars(
        select(Message).where(Message.contact_id == contact.id)
    ).all()
    assert (welcome.state, welcome.address) == (
        "outbox",
        "lucia.fernandez@example.org",
    )
    assert welcome.subject == "Welcome, Lucía"
    assert welcome.purpose == "marketing"

    assert engine.drain("w1", now=now + timedelta(days=1)) == {DONE: 2}
    task = db.session.scalar(select(Task).where(Task.contact_id == contact.id))
    assert task.title == "Call Lucía Fernández"
    assert task.assigned_to_id == contact.owner_id
    subjects = db.session.scalars(
        select(Message.subject).where(Message.contact_id == contact.id)
    ).all()
    assert sorted(subjects) == ["Lucía, three tips to get started", "Welcome, Lucía"]
    assert (
        db.session.scalar(
            select(func.count(StepRun.id)).where(StepRun.contact_id == contact.id)
        )
        == 3
    )


def test_the_demo_form_signs_a_visitor_up_for_the_welcome_series(
    app, db, loaded, client
):
    from crm.opportunities.models import Stage
    from crm.webforms.checkout import active_checkout
    from crm.webforms.models import WebForm
    from tests.webform_helpers import submit

    assert "/f/demo-newsletter" in loaded.output
    assert "/buy/demo-desk-lamp" in loaded.output
    assert db.session.scalar(select(func.count(Stage.id))) >= 3
    assert active_checkout("demo-desk-lamp").product.name == "Desk lamp"

    form = db.session.scalar(select(WebForm).where(WebForm.slug == "demo-newsletter"))
    form.min_fill_seconds = 0  # the visitor below is a test client, not a person
    db.session.commit()
    response = submit(client, form, {"email": "nina@example.com", "given_name": "Nina"})
    assert response.status_code in (200, 303), response.get_data(as_text=True)

    nina = db.session.scalar(select(Contact).where(Contact.given_name == "Nina"))
    assert demo.TAG in [link.tag.name for link in nina.tag_links]
    assert engine.drain("w1", now=utcnow() + timedelta(seconds=1)) == {DONE: 1}
    [welcome] = db.session.scalars(
        select(Message).where(Message.contact_id == nina.id)
    ).all()
    assert (welcome.state, welcome.subject) == ("outbox", "Welcome, Nina")

    from crm.webforms.models import ProductCheckout

    again = app.test_cli_runner().invoke(args=["demo", "load"])
    assert again.exit_code == 0, again.output
    assert db.session.scalar(select(func.count(WebForm.id))) == 1
    assert db.session.scalar(select(func.count(ProductCheckout.id))) == 1
