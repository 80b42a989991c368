"""Claiming due step runs and running each one once.

``claim`` moves a batch of due rows from scheduled to claimed in one atomic
statement: on PostgreSQL the candidate rows are locked with
``FOR UPDATE SKIP LOCKED`` so concurrent claimers pass over each other; on
SQLite, which has one writer at a time, the ``UPDATE ... WHERE id IN
(SELECT ... LIMIT n) RETURNING id`` is atomic by itself. ``dispatch`` then
runs one claimed row in its own transaction and records the attempt;
``dispatch_batch`` runs a claimed batch in chunks of ``COMMIT_EVERY`` rows,
one transaction per chunk (each row in its own savepoint), with the rows
loaded together, the attempts written in one INSERT and the e-mails of the
whole batch sent over one SMTP connection. A row that sent an e-mail commits
at once, so a killed worker leaves at most the one message it was sending
to go out again.
"""

import logging
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from crm.automation import actions, services
from crm.automation.models import (
    ACTIVE,
    CANCELLED,
    CLAIMED,
    COMPLETED,
    DONE,
    EXPIRED,
    FAILED,
    PAUSED,
    SCHEDULED,
    Step,
    StepAttempt,
    StepRun,
)
from crm.core.db import utcnow
from crm.extensions import db

logger = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
RETRY_DELAY = timedelta(minutes=1)
CLAIM_TIMEOUT = timedelta(minutes=5)
#: Rows run in one transaction. A worker killed mid-chunk loses the chunk's
#: database work, so its e-mails already handed to SMTP are sent again when
#: the rows are reaped: at most this many repeats, each with the same key.
COMMIT_EVERY = 20


def claim(batch: int, worker_id: str, now=None) -> list[int]:
    """Claim up to ``batch`` due runs for ``worker_id`` and commit; their ids."""
    now = now or utcnow()
    due = (
        select(StepRun.id)
        .where(StepRun.status == SCHEDULED, StepRun.due_at <= now)
        .order_by(StepRun.due_at, StepRun.id)
        .limit(batch)
    )
    if db.engine.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    # A materialised CTE is evaluated once: as a plain IN (subselect) the
    # planner may run the LIMIT query again per row and claim more than asked.
    due = due.cte("due").prefix_with("MATERIALIZED")
    statement = (
        update(StepRun)
        # The status is checked again on the row itself, so a row another
        # claimer took between the subselect and the update is left alone.
        .where(StepRun.id == due.c.id, StepRun.status == SCHEDULED)
        .values(
            status=CLAIMED,
            claimed_by=worker_id,
            claimed_at=now,
            attempts=StepRun.attempts + 1,
        )
        .returning(StepRun.id)
        .execution_options(synchronize_session=False)
    )
    try:
        ids = list(db.session.scalars(statement))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return sorted(ids)


def reap(timeout: timedelta = CLAIM_TIMEOUT, now=None) -> int:
    """Give claims older than ``timeout`` back to the queue (their worker died).

    Each row is returned by a conditional update that checks it is still
    claimed by the same worker at the same time, so a run its worker is
    finishing at this moment is never put back.
    """
    now = now or utcnow()
    stale = db.session.execute(
        select(StepRun.id, StepRun.claimed_by, StepRun.claimed_at).where(
            StepRun.status == CLAIMED, StepRun.claimed_at < now - timeout
        )
    ).all()
    db.session.rollback()
    returned = 0
    for run_id, worker, claimed_at in stale:
        back = db.session.execute(
            update(StepRun)
            .where(
                StepRun.id == run_id,
                StepRun.status == CLAIMED,
                StepRun.claimed_by == worker,
                StepRun.claimed_at == claimed_at,
            )
            .values(status=SCHEDULED, claimed_by=None, claimed_at=None)
            .returning(StepRun.id)
            .execution_options(synchronize_session=False)
        ).first()
        if back is None:
            db.session.rollback()
            continue
        db.session.add(
            StepAttempt(
                run_id=run_id,
                worker=worker or "",
                started_at=claimed_at,
                finished_at=now,
                outcome="lost",
                detail=f"claim by {worker} timed out",
            )
        )
        db.session.commit()
        returned += 1
        logger.warning(
            "step run %s: claim by %s timed out, back in the queue", run_id, worker
        )
    return returned


def _take(run_id: int, worker_id: str, now) -> bool:
    """Hold a claimed row for this transaction, if it is still ours.

    The conditional update locks the row (PostgreSQL) or takes the write
    lock (SQLite) until the run commits, so the reaper cannot hand it to
    another worker while it runs; it also renews the claim time.
    """
    taken = db.session.execute(
        update(StepRun)
        .where(
            StepRun.id == run_id,
            StepRun.status == CLAIMED,
            StepRun.claimed_by == worker_id,
        )
        .values(claimed_at=now)
        .returning(StepRun.id)
        .execution_options(synchronize_session=False)
    ).first()
    return taken is not None


def dispatch(run_id: int, worker_id: str, now=None) -> str | None:
    """Run one claimed row and commit; the outcome, or None if no longer ours."""
    now = now or utcnow()
    if not _take(run_id, worker_id, now):
        db.session.rollback()
        return None
    run = db.session.get(
        StepRun,
        run_id,
        populate_existing=True,
        options=[
            joinedload(StepRun.enrollment),
            joinedload(StepRun.contact),
            joinedload(StepRun.step).joinedload(Step.sequence),
        ],
    )

    attempt = StepAttempt(run_id=run.id, worker=worker_id, started_at=now)
    try:
        outcome, detail = _run(run, now)
    except Exception as exc:
        db.session.rollback()
        logger.exception("step run %s failed on %s", run_id, worker_id)
        return _failed(run_id, worker_id, now, exc)

    attempt.outcome = outcome
    attempt.detail = detail
    attempt.finished_at = utcnow()
    db.session.add(attempt)
    db.session.commit()
    logger.info(
        "step run %s (%s) %s by %s: %s",
        run_id,
        run.idempotency_key,
        outcome,
        worker_id,
        detail,
    )
    return outcome


def _run(run: StepRun, now) -> tuple[str, str]:
    enrollment = run.enrollment
    if enrollment.status not in (ACTIVE, COMPLETED):
        reason = (
            _("The sequence is paused.")
            if enrollment.status == PAUSED
            else _("The contact left the sequence.")
        )
        _finish(run, CANCELLED, reason, now)
        return CANCELLED, run.reason

    limit = actions.max_lateness(run.step)
    if limit is not None and now - run.due_at > limit:
        late = now - run.due_at
        logger.warning(
            "step run %s expired: %s late, the limit is %s", run.id, late, limit
        )
        minutes = int(late.total_seconds() // 60)
        _finish(run, EXPIRED, _("%(minutes)s minutes late", minutes=minutes), now)
        services.schedule_next(enrollment, now)
        return EXPIRED, run.reason

    outcome = actions.execute(run, run.contact, now)
    run.result_ref = outcome.ref
    _finish(run, outcome.status, outcome.detail, now)
    if outcome.stop:
        services.remove(enrollment, reason=outcome.detail, now=now)
    else:
        services.schedule_next(enrollment, now)
    return outcome.status, outcome.detail


def _finish(run: StepRun, status: str, reason: str, now) -> None:
    run.status = status
    run.reason = (reason or "")[:255]
    run.finished_at = now
    db.session.flush()


def _failed(run_id: int, worker_id: str, now, exc) -> str:
    """Record a failed attempt: retry later, or give up after the last try."""
    run = db.session.get(StepRun, run_id)
    detail = str(getattr(exc, "message", None) or exc.__class__.__name__)
    db.session.add(
        StepAttempt(
            run_id=run_id,
            worker=worker_id,
            started_at=now,
            finished_at=utcnow(),
            outcome=FAILED,
            detail=detail[:2000],
        )
    )
    if run.attempts >= MAX_ATTEMPTS:
        _finish(run, FAILED, detail, now)
        services.schedule_next(run.enrollment, now)
        outcome = FAILED
    else:
        run.status = SCHEDULED
        run.claimed_by = None
        run.claimed_at = None
        run.due_at = now + RETRY_DELAY * (2 ** (run.attempts - 1))
        run.reason = detail[:255]
        outcome = "retry"
    db.session.commit()
    return outcome


def _take_many(run_ids, worker_id: str, now) -> list[int]:
    """``_take`` for many rows in one statement; the ids still ours."""
    return list(
        db.session.scalars(
            update(StepRun)
            .where(
                StepRun.id.in_(run_ids),
                StepRun.status == CLAIMED,
                StepRun.claimed_by == worker_id,
            )
            .values(claimed_at=now)
            .returning(StepRun.id)
            .execution_options(synchronize_session=False)
        )
    )


def _load(run_ids) -> list[StepRun]:
    return list(
        db.session.scalars(
            select(StepRun)
            .where(StepRun.id.in_(run_ids))
            .order_by(StepRun.id)
            .options(
                joinedload(StepRun.enrollment),
                joinedload(StepRun.contact),
                joinedload(StepRun.step).joinedload(Step.sequence),
            )
            .execution_options(populate_existing=True)
        ).unique()
    )


def _dispatch_chunk(run_ids, worker_id: str, now, counts: dict) -> None:
    taken = _take_many(run_ids, worker_id, now)
    if len(taken) < len(run_ids):
        # Reaped and handed to another worker meanwhile: no longer ours.
        counts["lost"] = counts.get("lost", 0) + len(run_ids) - len(taken)
    if not taken:
        db.session.rollback()
        return

    attempts, failures, done = [], [], []
    for run in _load(taken):
        savepoint = db.session.begin_nested()
        try:
            outcome, detail = _run(run, now)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            logger.exception("step run %s failed on %s", run.id, worker_id)
            failures.append((run.id, exc))
            continue
        mailed = run.step.action_kind == "send_email" and outcome == DONE
        attempts.append(
            {
                "run_id": run.id,
                "worker": worker_id,
                "started_at": now,
                "finished_at": utcnow(),
                "outcome": outcome,
                "detail": detail or "",
            }
        )
        done.append((run.id, run.idempotency_key, outcome, detail))
        if mailed:
            # The SMTP server has the message: record that at once, so a
            # worker killed later in the chunk sends none of it again.
            db.session.execute(insert(StepAttempt), attempts)
            db.session.commit()
            attempts = []
    if attempts:
        db.session.execute(insert(StepAttempt), attempts)
    db.session.commit()

    for run_id, key, outcome, detail in done:
        logger.info(
            "step run %s (%s) %s by %s: %s", run_id, key, outcome, worker_id, detail
        )
        counts[outcome] = counts.get(outcome, 0) + 1
    for run_id, exc in failures:
        outcome = _failed(run_id, worker_id, now, exc)
        counts[outcome] = counts.get(outcome, 0) + 1


def dispatch_batch(
    run_ids, worker_id: str, now=None, *, stopping=(), commit_every=COMMIT_EVERY
) -> dict[str, int]:
    """Run claimed rows in chunks, one transaction each; a count per outcome.

    Every row keeps the rules of ``dispatch`` (its sequence's state, the
    maximum lateness, consent read when its e-mail is sent); a row that
    raises is rolled back to its savepoint alone and retried later. A true
    ``stopping`` ends the batch between chunks; the rest stays claimed until
    the reaper returns it.
    """
    from crm.mail import transport

    counts: dict[str, int] = {}
    run_ids = list(run_ids)
    with transport.kept_open():
        for start in range(0, len(run_ids), commit_every):
            if stopping:
                break
            chunk = run_ids[start : start + commit_every]
            try:
                _dispatch_chunk(chunk, worker_id, now or utcnow(), counts)
            except OperationalError:
                # The database was busy past its timeout (SQLite's one
                # writer) or went away: the chunk rolled back as a crash
                # would; the batch's rows go back to the queue at once.
                db.session.rollback()
                logger.warning(
                    "worker %s: database error in a chunk; %s rows back in the queue",
                    worker_id,
                    unclaim(run_ids[start:], worker_id),
                    exc_info=True,
                )
                break
    return counts


def unclaim(run_ids, worker_id: str) -> int:
    """Give rows this worker claimed but did not run back to the queue."""
    try:
        back = db.session.execute(
            update(StepRun)
            .where(
                StepRun.id.in_(list(run_ids)),
                StepRun.status == CLAIMED,
                StepRun.claimed_by == worker_id,
            )
            .values(status=SCHEDULED, claimed_by=None, claimed_at=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
    except OperationalError:
        db.session.rollback()
        logger.warning("worker %s: the reaper will return its claims", worker_id)
        return 0
    return back


def drain(worker_id: str, batch: int = 50, now=None) -> dict[str, int]:
    """Claim and run due rows until none is left; a count per outcome."""
    counts: dict[str, int] = {}
    while True:
        ids = claim(batch, worker_id, now)
        if not ids:
            return counts
        for outcome, n in dispatch_batch(ids, worker_id, now).items():
            counts[outcome] = counts.get(outcome, 0) + n
