"""E-mail steps through the one send function: consent at send time (S6), keys.

These need the mail domain (crm.mail, tests/mailserver.py); until it is on
the branch they skip.
"""

import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from sqlalchemy import select

pytest.importorskip("crm.mail.services", reason="the mail domain is not merged yet")
mailserver = pytest.importorskip("tests.mailserver")

from crm.automation import engine, services  # noqa: E402
from crm.automation.actions import KEY_HEADER  # noqa: E402
from crm.automation.models import (  # noqa: E402
    DONE,
    REMOVED,
    SKIPPED,
    StepRun,
)
from crm.automation.scheduler import child_settings, stop_workers  # noqa: E402
from crm.core.db import utcnow  # noqa: E402
from tests.automation_helpers import delay, make_sequence, tag  # noqa: E402
from tests.automation_load import seed, start_workers, status_counts  # noqa: E402

smtp_server = mailserver.smtp_server


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


def email_step(n):
    return {"subject": f"Step {n}", "html": f"<p>Step {n} for you</p>"}


def test_an_unsubscribed_contact_gets_no_more_steps(db, make_contact, smtp_server):
    from crm.mail import services as mail

    sequence = make_sequence(
        db,
        steps=[
            ("none", None, "send_email", email_step(1)),
            ("delay", delay(1), "send_email", email_step(2)),
            ("delay", delay(1), "send_email", email_step(3)),
        ],
    )
    jane = make_contact(email="jane@example.com")
    mail.opt_in("jane@example.com", reason="signed up at the webinar")
    now = utcnow()
    enrollment = services.start(jane, sequence, now=now)
    db.session.commit()

    assert engine.drain("w1", now=now) == {DONE: 1}
    [first] = smtp_server.wait_for(1)
    assert first["Subject"] == "Step 1"
    assert first[KEY_HEADER] == f"{sequence.steps[0].id}:{jane.id}:1"

    mail.opt_out("jane@example.com", reason="asked by e-mail")
    db.session.commit()
    assert engine.drain("w1", now=now + timedelta(days=1, minutes=1)) == {SKIPPED: 1}

    runs = db.session.scalars(select(StepRun).order_by(StepRun.id)).all()
    assert [r.status for r in runs] == [DONE, SKIPPED]
    assert runs[1].reason
    db.session.refresh(enrollment)
    assert enrollment.status == REMOVED and enrollment.reason == runs[1].reason
    assert engine.drain("w1", now=now + timedelta(days=5)) == {}
    assert len(smtp_server.messages) == 1


def test_four_workers_one_killed_deliver_every_key_to_the_smtp_server(
    app, db, smtp_server
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("worker processes drain concurrently on PostgreSQL")
    count = int(os.environ.get("AUTOMATION_LOAD_COUNT", "600"))
    step = seed(count, "send_email", email_step(1))
    processes = start_workers(child_settings(app), 4)
    try:
        deadline = time.monotonic() + 300
        while status_counts(step.id).get(DONE, 0) < count // 4:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        os.kill(processes[0].pid, signal.SIGKILL)
        processes[0].join(timeout=10)
        while status_counts(step.id) != {DONE: count}:
            assert time.monotonic() < deadline + 300, status_counts(step.id)
            engine.reap(timeout=timedelta(seconds=10))
            time.sleep(0.2)
    finally:
        stop_workers(processes[1:])

    keys = db.session.scalars(
        select(StepRun.idempotency_key).where(StepRun.step_id == step.id)
    ).all()
    smtp_server.wait_for(count)
    received = Counter(m[KEY_HEADER] for m in smtp_server.messages)
    # Zero losses: every key arrived. A repeat is possible only for the one
    # message the killed worker had handed to SMTP and not yet committed; it
    # carries the same key, so the receiver can tell it.
    assert set(received) == set(keys)
    assert sum(n - 1 for n in received.values()) <= 1


def test_marketing_steps_skip_an_address_without_consent(db, make_contact, smtp_server):
    sequence = make_sequence(
        db,
        steps=[
            ("none", None, "send_email", email_step(1)),
            ("none", None, "apply_tag", {"tag_id": tag(db, "After mail").id}),
        ],
    )
    john = make_contact("John", email="john@example.com")
    enrollment = services.start(john, sequence)
    db.session.commit()

    assert engine.drain("w1") == {SKIPPED: 1}
    (run,) = db.session.scalars(select(StepRun)).all()
    assert run.reason and "john@example.com" in run.reason
    db.session.refresh(enrollment)
    assert enrollment.status == REMOVED
    assert smtp_server.messages == []


def test_a_steps_own_subject_and_body_get_the_contacts_merge_fields(
    db, make_contact, smtp_server
):
    from crm.mail import services as mail

    own = {
        "subject": "Welcome, {{ contact.given_name }}",
        "html": "<p>Hello ~Contact.FirstName~, glad you came.</p>",
    }
    sequence = make_sequence(db, steps=[("none", None, "send_email", own)])
    jane = make_contact("Jane", email="jane@example.com")
    mail.opt_in("jane@example.com", reason="signed up at the webinar")
    now = utcnow()
    services.start(jane, sequence, now=now)
    db.session.commit()

    assert engine.drain("w1", now=now) == {DONE: 1}
    [message] = smtp_server.wait_for(1)
    assert message["Subject"] == "Welcome, Jane"
    body = message.get_body(("html",)).get_content()
    assert "Hello Jane, glad you came." in body
