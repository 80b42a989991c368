"""A claimed batch runs in chunks: one failing row is rolled back alone."""

from datetime import timedelta

from sqlalchemy import func, select

from crm.automation import engine, services
from crm.automation.models import DONE, SCHEDULED, StepAttempt, StepRun
from crm.tags.models import ContactTag, Tag
from tests.automation_helpers import make_sequence, tag, utc

T0 = utc(2026, 5, 4, 10, 0)


def test_a_failing_row_leaves_the_rest_of_its_chunk_done(db, make_contact):
    kept, doomed = tag(db, "Kept"), tag(db, "Doomed")
    good = make_sequence(
        db, "Good", steps=[("none", None, "apply_tag", {"tag_id": kept.id})]
    )
    bad = make_sequence(
        db, "Bad", steps=[("none", None, "apply_tag", {"tag_id": doomed.id})]
    )
    contacts = [make_contact(f"C{i}") for i in range(5)]
    for i, contact in enumerate(contacts):
        services.start(contact, bad if i == 2 else good, now=T0)
    db.session.delete(db.session.get(Tag, doomed.id))
    db.session.commit()

    ids = engine.claim(10, "w1", T0)
    assert len(ids) == 5
    counts = engine.dispatch_batch(ids, "w1", T0, commit_every=5)

    assert counts == {DONE: 4, "retry": 1}
    tagged = set(
        db.session.scalars(
            select(ContactTag.contact_id).where(ContactTag.tag_id == kept.id)
        )
    )
    assert tagged == {c.id for i, c in enumerate(contacts) if i != 2}
    failed = db.session.scalar(
        select(StepRun).where(StepRun.contact_id == contacts[2].id)
    )
    assert failed.status == SCHEDULED
    assert failed.due_at == T0 + engine.RETRY_DELAY
    assert failed.reason == "The step's tag no longer exists."
    outcomes = sorted(db.session.scalars(select(StepAttempt.outcome)))
    assert outcomes == ["done"] * 4 + ["failed"]


def test_a_stopping_worker_leaves_the_rest_of_the_batch_claimed(db, make_contact):
    label = tag(db, "Stop")
    sequence = make_sequence(
        db, steps=[("none", None, "apply_tag", {"tag_id": label.id})]
    )
    for i in range(4):
        services.start(make_contact(f"S{i}"), sequence, now=T0)
    db.session.commit()
    ids = engine.claim(10, "w1", T0)

    assert engine.dispatch_batch(ids, "w1", T0, stopping=[True]) == {}

    # The reaper gives them back after the claim timeout; another worker runs them.
    later = T0 + engine.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert engine.reap(now=later) == 4
    assert engine.drain("w2", now=later) == {DONE: 4}


def test_rows_reaped_from_a_slow_worker_are_not_run_by_it(db, make_contact):
    label = tag(db, "Slow")
    sequence = make_sequence(
        db, steps=[("none", None, "apply_tag", {"tag_id": label.id})]
    )
    for i in range(3):
        services.start(make_contact(f"L{i}"), sequence, now=T0)
    db.session.commit()
    slow = engine.claim(10, "slow", T0)
    later = T0 + engine.CLAIM_TIMEOUT + timedelta(seconds=1)
    assert engine.reap(now=later) == 3
    assert engine.claim(10, "fast", later) == slow

    assert engine.dispatch_batch(slow, "slow", later) == {"lost": 3}
    assert engine.dispatch_batch(slow, "fast", later) == {DONE: 3}
    assert db.session.scalar(select(func.count(ContactTag.contact_id))) == 3
