"""E-mail steps sent in batches: refusals, failures and a worker killed mid-send."""

from collections import Counter
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from crm.activity.models import ActivityEvent
from crm.automation import engine, services
from crm.automation.actions import KEY_HEADER
from crm.automation.models import (
    ACTIVE,
    COMPLETED,
    DONE,
    PAUSED,
    REMOVED,
    SCHEDULED,
    SKIPPED,
    Enrollment,
    Step,
    StepAttempt,
    StepRun,
)
from crm.contacts.models import Contact
from crm.mail import services as mail
from crm.mail import statuses
from crm.mail.models import EmailAddressStatus, Message
from tests.automation_helpers import make_sequence, utc

T0 = utc(2026, 5, 4, 10, 0)


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def contacts(db, make_contact):
    """Five contacts in a one-e-mail sequence; all but the third opted in."""
    sequence = make_sequence(
        db,
        steps=[("none", None, "send_email", {"subject": "Hi", "html": "<p>Hi</p>"})],
    )
    found = []
    for i in range(5):
        contact = make_contact(f"C{i}", email=f"c{i}@example.com")
        if i != 2:
            mail.opt_in(f"c{i}@example.com", reason="signed up")
        services.start(contact, sequence, now=T0)
        found.append(contact)
    db.session.commit()
    return found


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs, no handler catches it."""


def _run_of(db, contact):
    return db.session.scalar(select(StepRun).where(StepRun.contact_id == contact.id))


def test_a_refused_address_in_the_middle_of_a_chunk_skips_only_its_run(
    db, contacts, smtp_server
):
    ids = engine.claim(10, "w1", T0)
    assert engine.dispatch_batch(ids, "w1", T0) == {DONE: 4, SKIPPED: 1}

    assert len(smtp_server.wait_for(4)) == 4
    refused = _run_of(db, contacts[2])
    assert refused.status == SKIPPED and "c2@example.com" in refused.reason
    assert refused.enrollment.status == REMOVED
    assert db.session.scalar(select(func.count()).select_from(Message)) == 4
    sent = db.session.scalars(select(StepRun).where(StepRun.status == DONE)).all()
    assert {r.result_ref for r in sent} == {
        f"message:{m}" for m in db.session.scalars(select(Message.id))
    }


def test_a_transport_failure_retries_the_run_with_the_same_message(
    db, contacts, smtp_server
):
    smtp_server.refuse_for["c1@example.com"] = "451 4.3.0 Try later"
    ids = engine.claim(10, "w1", T0)
    assert engine.dispatch_batch(ids, "w1", T0) == {DONE: 3, SKIPPED: 1, "retry": 1}

    run = _run_of(db, contacts[1])
    assert run.status == SCHEDULED and "Try later" in run.reason
    failed = db.session.get(Message, int(run.result_ref.partition(":")[2]))
    assert failed.state == "failed"

    smtp_server.refuse_for.clear()
    later = T0 + timedelta(minutes=2)
    assert engine.drain("w1", now=later) == {DONE: 1}
    retried = smtp_server.wait_for(4)[-1]
    assert retried["To"] == "c1@example.com"
    assert retried["Message-ID"] == failed.message_id_header
    db.session.refresh(failed)
    assert failed.state == "sent"
    assert db.session.scalar(select(func.count()).select_from(Message)) == 4


def test_a_worker_killed_mid_send_repeats_at_most_one_message_with_its_id(
    db, contacts, smtp_server, monkeypatch
):
    marked = []
    real_sent = mail._SentMarker.sent

    def killed_after_the_second_reply(marker, one):
        # The server accepted the second message; the worker dies before
        # recording it.
        if len(marked) == 1:
            raise Killed
        real_sent(marker, one)
        marked.append(one.id)

    monkeypatch.setattr(mail._SentMarker, "sent", killed_after_the_second_reply)
    ids = engine.claim(10, "w1", T0)
    with pytest.raises(Killed):
        engine.dispatch_batch(ids, "w1", T0)
    db.session.rollback()
    monkeypatch.undo()
    assert len(smtp_server.wait_for(2)) == 2

    # The reaper gives the dead worker's rows back; another worker runs them.
    later = T0 + engine.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert engine.reap(now=later) == 4
    assert engine.drain("w2", now=later) == {DONE: 4}

    received = smtp_server.wait_for(5)
    keys = Counter(m[KEY_HEADER] for m in received)
    assert len(keys) == 4 and sorted(keys.values()) == [1, 1, 1, 2]
    [(repeated, _n)] = [(k, n) for k, n in keys.items() if n == 2]
    copies = [m["Message-ID"] for m in received if m[KEY_HEADER] == repeated]
    assert copies[0] == copies[1]

    # One message, one "email_sent" event and one done attempt per run.
    messages = db.session.scalars(select(Message)).all()
    assert len(messages) == 4 and {m.state for m in messages} == {"sent"}
    assert {m.message_id_header for m in messages} >= set(copies)
    events = db.session.scalars(
        select(ActivityEvent.target).where(ActivityEvent.kind == "email_sent")
    ).all()
    assert sorted(events) == sorted(f"message:{m.id}" for m in messages)
    done = db.session.execute(
        select(StepAttempt.run_id, func.count())
        .where(StepAttempt.outcome == DONE)
        .group_by(StepAttempt.run_id)
    ).all()
    assert len(done) == 4 and {n for _run, n in done} == {1}


def test_a_row_whose_bookkeeping_raises_fails_alone_and_is_not_mailed_twice(
    db, contacts, smtp_server, monkeypatch
):
    real, real_bulk = services.schedule_next, services.complete_finished
    doomed = contacts[3].id

    def schedule_next(enrollment, now=None, **options):
        if enrollment.contact_id == doomed:
            raise RuntimeError("the next step cannot be planned")
        return real(enrollment, now, **options)

    def complete_finished(enrollments, finished, now):
        # The rows that plan nothing are completed together: it raises there too.
        if any(row.contact_id == doomed for row in enrollments):
            raise RuntimeError("the sequence cannot be completed")
        return real_bulk(enrollments, finished, now)

    monkeypatch.setattr(services, "schedule_next", schedule_next)
    monkeypatch.setattr(services, "complete_finished", complete_finished)
    ids = engine.claim(10, "w1", T0)
    assert engine.dispatch_batch(ids, "w1", T0) == {DONE: 3, SKIPPED: 1, "retry": 1}
    assert len(smtp_server.wait_for(4)) == 4
    run = _run_of(db, contacts[3])
    assert run.status == SCHEDULED and run.reason == "RuntimeError"

    monkeypatch.undo()
    assert engine.drain("w1", now=T0 + timedelta(minutes=2)) == {DONE: 1}
    assert len(smtp_server.messages) == 4
    events = db.session.scalars(
        select(ActivityEvent.contact_id).where(ActivityEvent.kind == "email_sent")
    ).all()
    assert sorted(events) == sorted(c.id for i, c in enumerate(contacts) if i != 2)


def _two_emails():
    return [
        ("none", None, "send_email", {"subject": "Hi", "html": "<p>Hi</p>"}),
        ("none", None, "send_email", {"subject": "Again", "html": "<p>Again</p>"}),
    ]


@pytest.mark.parametrize(
    "case, status_after, left_to_schedule_next",
    [
        ("the last step", COMPLETED, False),
        ("a next step to plan", ACTIVE, True),
        ("another step pending", ACTIVE, False),
        ("paused meanwhile", PAUSED, False),
        ("two runs of the step", ACTIVE, True),
    ],
)
def test_finished_rows_complete_the_sequence_only_when_nothing_is_left(
    db, make_contact, caplog, case, status_after, left_to_schedule_next
):
    one_step = case in ("the last step", "paused meanwhile", "two runs of the step")
    steps = _two_emails()[:1] if one_step else _two_emails()
    sequence = make_sequence(db, steps=steps)
    contact = make_contact("Fin", email="fin@example.com")
    enrollment = services.start(contact, sequence, now=T0)
    db.session.commit()
    [run] = db.session.scalars(select(StepRun)).all()
    if case == "another step pending":
        db.session.add(_run_like(run, sequence.steps[1].id, "2nd", SCHEDULED))
    elif case == "two runs of the step":
        db.session.add(_run_like(run, run.step_id, "resend", DONE))
    elif case == "paused meanwhile":
        # A user paused the contact while its claimed step was being sent.
        enrollment.status = PAUSED
    db.session.commit()

    row = SimpleNamespace(
        enrollment_id=enrollment.id,
        status=enrollment.status,
        occurrence=enrollment.occurrence,
        sequence_id=sequence.id,
        contact_id=contact.id,
    )
    with caplog.at_level("INFO", logger="crm.automation.services"):
        left = services.complete_finished([row], {run.id: DONE}, T0)
    db.session.commit()

    assert left == ({enrollment.id} if left_to_schedule_next else set())
    db.session.refresh(enrollment)
    assert enrollment.status == status_after
    completed = f"contact {contact.id} completed sequence {sequence.id}"
    assert (completed in caplog.text) == (status_after == COMPLETED)


def _run_like(run, step_id, key, status):
    return StepRun(
        enrollment_id=run.enrollment_id,
        contact_id=run.contact_id,
        step_id=step_id,
        occurrence=run.occurrence,
        due_at=T0,
        status=status,
        idempotency_key=f"{run.idempotency_key}:{key}",
    )


def test_a_chunk_of_last_steps_completes_every_sequence_and_records_each_run(
    db, contacts, smtp_server
):
    ids = engine.claim(10, "w1", T0)
    assert engine.dispatch_batch(ids, "w1", T0) == {DONE: 4, SKIPPED: 1}

    runs = db.session.scalars(select(StepRun).order_by(StepRun.id)).all()
    sent = [r for r in runs if r.status == DONE]
    assert len(sent) == 4
    assert {r.enrollment.status for r in sent} == {COMPLETED}
    assert {r.reason for r in sent} == {"E-mail sent."}
    assert all(
        r.finished_at == T0 and r.result_ref.startswith("message:") for r in sent
    )
    attempts = db.session.scalars(
        select(StepAttempt.run_id).where(StepAttempt.outcome == DONE)
    )
    assert sorted(attempts) == [r.id for r in sent]


def test_a_contact_deleted_while_its_chunk_sends_stops_cleanly(
    db, contacts, smtp_server, monkeypatch
):
    if db.engine.dialect.name == "postgresql":
        pytest.skip("on PostgreSQL the delete waits for the chunk's row locks")
    real_sent = mail._SentMarker.sent
    ids = [c.id for c in contacts]
    gone = ids[3]

    def deleted_after_the_first_mark(marker, one):
        real_sent(marker, one)
        if len(marker.recorded) == 1:
            # SQLite: the first mark committed, so another writer may act.
            with db.engine.begin() as other:
                other.execute(Contact.__table__.delete().where(Contact.id == gone))

    monkeypatch.setattr(mail._SentMarker, "sent", deleted_after_the_first_mark)
    counts = engine.dispatch_batch(engine.claim(10, "w1", T0), "w1", T0)
    db.session.rollback()

    # The other contacts' runs are recorded; the deleted one left no trace.
    assert counts.get(DONE) == 3 and counts.get(SKIPPED) == 1
    runs = db.session.scalars(select(StepRun)).all()
    assert len(runs) == 4 and gone not in {r.contact_id for r in runs}
    events = db.session.scalars(
        select(ActivityEvent.contact_id).where(ActivityEvent.kind == "email_sent")
    ).all()
    assert sorted(events) == [ids[0], ids[1], ids[4]]


def test_an_opt_out_committed_while_a_chunk_sends_is_refused(
    db, contacts, smtp_server, monkeypatch
):
    real_sent = mail._SentMarker.sent
    table = EmailAddressStatus.__table__

    def opted_out_after_the_first_mark(marker, one):
        real_sent(marker, one)
        if len(marker.recorded) == 1 and db.engine.dialect.name != "postgresql":
            # SQLite: the first mark committed, so another writer may act
            # (on PostgreSQL the batch's status rows stay locked meanwhile).
            with db.engine.begin() as other:
                other.execute(
                    table.update()
                    .where(table.c.address == "c4@example.com")
                    .values(status=statuses.MANUAL)
                )

    monkeypatch.setattr(mail._SentMarker, "sent", opted_out_after_the_first_mark)
    counts = engine.dispatch_batch(engine.claim(10, "w1", T0), "w1", T0)

    expected = {DONE: 3, SKIPPED: 2}
    if db.engine.dialect.name == "postgresql":
        expected = {DONE: 4, SKIPPED: 1}
    assert counts == expected
    received = smtp_server.wait_for(expected[DONE])
    sent_to = sorted(m["To"] for m in received)
    if db.engine.dialect.name != "postgresql":
        assert "c4@example.com" not in sent_to


@pytest.mark.parametrize("change", ["a step added after it", "paused and resumed"])
def test_a_last_step_changed_while_its_chunk_sends_takes_the_change_into_account(
    db, contacts, smtp_server, monkeypatch, change
):
    real_sent = mail._SentMarker.sent
    sequence_id = _run_of(db, contacts[0]).step.sequence_id
    first = contacts[0].id
    steps = Step.__table__
    enrollments = Enrollment.__table__

    def changed_after_the_first_mark(marker, one):
        real_sent(marker, one)
        if len(marker.recorded) != 1:
            return
        # Another writer, once the first mark is in (SQLite lets it in then).
        with db.engine.begin() as other:
            if change == "a step added after it":
                other.execute(
                    steps.insert().values(
                        sequence_id=sequence_id,
                        position=2,
                        name="Later",
                        timer_kind="delay",
                        timer={"amount": 1, "unit": "days"},
                        action_kind="send_email",
                        action={"subject": "Later", "html": "<p>Later</p>"},
                    )
                )
            else:
                for status in (PAUSED, ACTIVE):
                    other.execute(
                        enrollments.update()
                        .where(enrollments.c.contact_id == first)
                        .values(status=status)
                    )

    monkeypatch.setattr(mail._SentMarker, "sent", changed_after_the_first_mark)
    assert engine.dispatch_batch(engine.claim(10, "w1", T0), "w1", T0) == {
        DONE: 4,
        SKIPPED: 1,
    }

    done = db.session.scalars(
        select(Enrollment).where(Enrollment.status != REMOVED)
    ).all()
    assert len(done) == 4
    planned = db.session.scalars(
        select(StepRun.contact_id).where(StepRun.status == SCHEDULED)
    ).all()
    if change == "a step added after it":
        # The e-mail is no longer the last step: each contact waits for the next.
        assert {e.status for e in done} == {ACTIVE}
        assert sorted(planned) == sorted(e.contact_id for e in done)
    else:
        assert {e.status for e in done} == {COMPLETED} and planned == []


def test_two_rows_of_one_enrollment_in_a_chunk_complete_it_once_beside_others(
    db, make_contact, smtp_server
):
    sequence = make_sequence(db, steps=_two_emails())
    both, alone = [], []
    for i in range(3):
        contact = make_contact(f"S{i}", email=f"s{i}@example.com")
        mail.opt_in(f"s{i}@example.com", reason="signed up")
        enrollment = services.start(contact, sequence, now=T0)
        (both if i == 1 else alone).append(enrollment)
    db.session.flush()
    # The middle contact has its second step due too (a step run now by hand
    # while the first was still waiting): two rows of one enrollment.
    [first] = [
        r
        for r in db.session.scalars(select(StepRun))
        if r.contact_id == both[0].contact_id
    ]
    db.session.add(
        StepRun(
            enrollment_id=first.enrollment_id,
            contact_id=first.contact_id,
            step_id=sequence.steps[1].id,
            occurrence=first.occurrence,
            due_at=T0,
            status=SCHEDULED,
            idempotency_key=f"{sequence.steps[1].id}:{first.contact_id}:1",
        )
    )
    db.session.commit()

    assert engine.dispatch_batch(engine.claim(10, "w1", T0), "w1", T0) == {DONE: 4}

    db.session.expire_all()
    assert both[0].status == COMPLETED
    # The others, at their first step, wait for the second.
    assert {e.status for e in alone} == {ACTIVE}
    runs = db.session.scalars(select(StepRun).order_by(StepRun.id)).all()
    assert Counter((r.contact_id, r.status) for r in runs) == Counter(
        [(both[0].contact_id, DONE)] * 2
        + [(e.contact_id, DONE) for e in alone]
        + [(e.contact_id, SCHEDULED) for e in alone]
    )
    attempts = db.session.scalars(
        select(StepAttempt.run_id).where(StepAttempt.outcome == DONE)
    ).all()
    assert sorted(attempts) == sorted(r.id for r in runs if r.status == DONE)
    assert len(smtp_server.wait_for(4)) == 4
