"""Exactly once under concurrency: four worker processes, one killed midway.

Each run's side effect and its "done" commit share one transaction for tag
steps, so a killed worker's rows are rolled back, reaped and run by another
worker. The e-mail variant compares what the SMTP server received with the
runs, by idempotency key (the Message-ID is made from it).
"""

import os
import signal
import time

import pytest
from sqlalchemy import func, select

from crm.automation import engine
from crm.automation.models import DONE, StepAttempt, StepRun
from crm.automation.scheduler import child_settings, stop_workers
from crm.tags.models import ContactTag
from tests.automation_helpers import tag
from tests.automation_load import seed, start_workers, status_counts

COUNT = int(os.environ.get("AUTOMATION_LOAD_COUNT", "600"))


def _wait(predicate, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


@pytest.fixture
def postgresql_only(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("worker processes drain concurrently on PostgreSQL")


def test_four_workers_one_killed_drain_every_step_exactly_once(
    app, db, postgresql_only
):
    label = tag(db, "Drained")
    step = seed(COUNT, "apply_tag", {"tag_id": label.id})
    processes = start_workers(child_settings(app), 4)
    victim = processes[0]
    try:
        # Kill one worker once a quarter of the rows is done.
        assert _wait(lambda: status_counts(step.id).get(DONE, 0) >= COUNT // 4, 120)
        os.kill(victim.pid, signal.SIGKILL)
        victim.join(timeout=10)
        assert victim.exitcode == -signal.SIGKILL

        # What the dead worker held comes back after the claim timeout, as
        # the scheduler's beat would return it.
        def drained():
            engine.reap(timeout=_seconds(10))
            return status_counts(step.id) == {DONE: COUNT}

        assert _wait(drained, 180), status_counts(step.id)
    finally:
        stop_workers(processes[1:])

    # Zero losses, zero duplicates: one tag per contact, one "done" attempt
    # per run, every key present once.
    tagged = db.session.scalar(
        select(func.count())
        .select_from(ContactTag)
        .where(ContactTag.tag_id == label.id)
    )
    assert tagged == COUNT
    done_attempts = db.session.execute(
        select(StepAttempt.run_id, func.count())
        .where(StepAttempt.outcome == DONE)
        .group_by(StepAttempt.run_id)
    ).all()
    assert len(done_attempts) == COUNT
    assert {n for _, n in done_attempts} == {1}
    keys = db.session.scalars(
        select(StepRun.idempotency_key).where(StepRun.step_id == step.id)
    ).all()
    assert len(set(keys)) == COUNT
    workers = set(
        db.session.scalars(
            select(StepAttempt.worker).where(StepAttempt.outcome == DONE)
        )
    )
    assert len(workers) >= 3


def _seconds(n):
    from datetime import timedelta

    return timedelta(seconds=n)
