"""Claiming due rows: concurrent claimers never share a row; crashed claims return."""

import multiprocessing
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, insert, select

from crm.automation import engine, services
from crm.automation.models import (
    CLAIMED,
    DONE,
    SCHEDULED,
    Enrollment,
    StepAttempt,
    StepRun,
)
from tests.automation_helpers import make_sequence, tag, utc

T0 = utc(2026, 5, 4, 10, 0)


def seed_due_rows(db, make_contact, count, due=T0):
    """``count`` contacts, each with one due tag step (inserted in bulk)."""
    label = tag(db, "Claimed")
    sequence = make_sequence(
        db, steps=[("none", None, "apply_tag", {"tag_id": label.id})]
    )
    step = sequence.steps[0]
    contact = make_contact()
    db.session.execute(
        insert(Enrollment),
        [
            {
                "contact_id": contact.id,
                "sequence_id": sequence.id,
                "status": "active",
                "occurrence": 1,
                "reason": "",
                "started_at": due,
                "updated_at": due,
            }
        ],
    )
    enrollment_id = db.session.scalar(select(Enrollment.id))
    db.session.execute(
        insert(StepRun),
        [
            {
                "enrollment_id": enrollment_id,
                "contact_id": contact.id,
                "step_id": step.id,
                "occurrence": i,
                "due_at": due,
                "zone": "UTC",
                "status": SCHEDULED,
                "attempts": 0,
                "reason": "",
                "idempotency_key": services.idempotency_key(step.id, contact.id, i),
                "created_at": due,
            }
            for i in range(1, count + 1)
        ],
    )
    db.session.commit()
    return contact


def _claim_all(app, worker, results, errors, barrier):
    try:
        with app.app_context():
            barrier.wait()
            while True:
                ids = engine.claim(7, worker, T0)
                if not ids:
                    break
                results.extend(ids)
    except Exception as exc:  # reported to the test thread below
        errors.append(exc)


def test_concurrent_threads_never_claim_the_same_row(app, db, make_contact):
    seed_due_rows(db, make_contact, 300)
    workers = 6
    barrier = threading.Barrier(workers)
    claimed = {f"t{i}": [] for i in range(workers)}
    errors = []
    threads = [
        threading.Thread(target=_claim_all, args=(app, w, ids, errors, barrier))
        for w, ids in claimed.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    every = [i for ids in claimed.values() for i in ids]
    assert len(every) == len(set(every)) == 300
    assert sum(1 for ids in claimed.values() if ids) > 1
    owners = dict(db.session.execute(select(StepRun.id, StepRun.claimed_by)).all())
    for worker, ids in claimed.items():
        assert all(owners[i] == worker for i in ids)


def _process_claimer(url, worker, queue):
    from crm import create_app

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "claimer"})
    with app.app_context():
        mine = []
        while True:
            ids = engine.claim(5, worker, T0)
            if not ids:
                break
            mine.extend(ids)
    queue.put((worker, mine))


def test_concurrent_processes_never_claim_the_same_row_on_postgresql(
    app, db, make_contact, database_url
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("processes claiming through SKIP LOCKED is the PostgreSQL path")
    seed_due_rows(db, make_contact, 400)
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    processes = [
        context.Process(target=_process_claimer, args=(database_url, f"p{i}", queue))
        for i in range(4)
    ]
    for process in processes:
        process.start()
    results = dict(queue.get(timeout=120) for _ in processes)
    for process in processes:
        process.join(timeout=30)
        assert process.exitcode == 0

    every = [i for ids in results.values() for i in ids]
    assert len(every) == len(set(every)) == 400


def test_only_due_rows_are_claimed_in_due_order(db, make_contact):
    contact = seed_due_rows(db, make_contact, 3)
    late = db.session.scalars(select(StepRun).order_by(StepRun.id)).all()
    late[0].due_at = T0 + timedelta(minutes=1)
    late[1].due_at = T0 - timedelta(minutes=1)
    db.session.commit()

    assert engine.claim(10, "w1", T0) == sorted([late[1].id, late[2].id])
    assert engine.claim(10, "w2", T0) == []
    assert contact is not None


def test_a_crashed_claim_is_taken_back_after_the_timeout_and_runs_once(
    db, make_contact
):
    seed_due_rows(db, make_contact, 3)
    dead = engine.claim(10, "dead-worker", T0)
    assert len(dead) == 3

    # Before the timeout nothing returns; after it every row does.
    assert engine.reap(timedelta(minutes=5), now=T0 + timedelta(minutes=4)) == 0
    assert engine.reap(timedelta(minutes=5), now=T0 + timedelta(minutes=6)) == 3
    later = T0 + timedelta(minutes=6)
    assert engine.drain("w2", now=later) == {DONE: 3}

    # The dead worker waking up finds the rows are no longer its own.
    assert engine.dispatch(dead[0], "dead-worker", later) is None
    runs = db.session.scalars(select(StepRun)).all()
    assert {r.status for r in runs} == {DONE}
    assert {r.attempts for r in runs} == {2}
    outcomes = db.session.scalars(
        select(StepAttempt.outcome).where(StepAttempt.run_id == dead[0])
    ).all()
    assert sorted(outcomes) == ["done", "lost"]


def test_a_claimed_row_is_not_claimed_twice(db, make_contact):
    seed_due_rows(db, make_contact, 2)
    first = engine.claim(10, "w1", T0)
    assert engine.claim(10, "w2", T0) == []
    statuses = db.session.scalars(select(StepRun.status)).all()
    assert statuses == [CLAIMED, CLAIMED]
    assert db.session.scalar(select(func.count()).select_from(StepAttempt)) == 0
    assert len(first) == 2
