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
whole batch sent over one SMTP connection. The e-mails of a chunk go
through the mail domain's batch send: their message rows are written and
committed before the first is handed to SMTP, and each is marked sent in a
small commit of its own as the server accepts it, so a killed worker leaves
at most the one message it was sending to go out again, and a reaped run
reuses its message rather than making a second.
"""

import logging
from collections import Counter
from datetime import timedelta

from flask_babel import gettext as _
from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import joinedload

from crm.automation import actions, services
from crm.automation.models import (
    ACTIVE,
    CANCELLED,
    CLAIMED,
    COMPLETED,
    EXPIRED,
    FAILED,
    PAUSED,
    SCHEDULED,
    Enrollment,
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
#: Rows run in one transaction (and their e-mails sent as one batch).
COMMIT_EVERY = 100


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
    counts: dict[str, int] = {}
    from crm.mail import transport

    with transport.kept_open():
        _dispatch_chunk([run_id], worker_id, now or utcnow(), counts)
    counts.pop("lost", None)
    return next(iter(counts), None)


def _run(run: StepRun, now) -> tuple[str, str]:
    ended = _cut_short(run, now)
    if ended is not None:
        return ended
    return _complete(run, actions.execute(run, run.contact, now), now)


def _cut_short(run: StepRun, now) -> tuple[str, str] | None:
    """End a run that must not act: its sequence stopped, or it is too late."""
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
    return None


def _complete(
    run: StepRun, outcome: actions.Outcome, now, runs=None
) -> tuple[str, str]:
    """Record what the step did and move the contact on (or out)."""
    run.result_ref = outcome.ref
    _finish(run, outcome.status, outcome.detail, now)
    if outcome.stop:
        services.remove(run.enrollment, reason=outcome.detail, now=now)
    else:
        services.schedule_next(run.enrollment, now, runs=runs)
    return outcome.status, outcome.detail


def _finish(run: StepRun, status: str, reason: str, now) -> None:
    run.status = status
    run.reason = (reason or "")[:255]
    run.finished_at = now
    if not db.session.info.get(services.DEFER_FLUSH):
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
    _count_lost(counts, len(run_ids) - len(taken))
    if not taken:
        db.session.rollback()
        return

    chunk = _Chunk(worker_id, now)
    mails = []
    for run in _load(taken):
        savepoint = db.session.begin_nested()
        try:
            ended = _cut_short(run, now)
            if ended is None and run.step.action_kind == "send_email":
                ended = _email_or_end(run, mails, now)
            elif ended is None:
                ended = _complete(run, actions.execute(run, run.contact, now), now)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            logger.exception("step run %s failed on %s", run.id, worker_id)
            chunk.failures.append((run.id, exc))
            continue
        if ended is not None:
            chunk.done(run, *ended)

    prepared = _prepare_mails(mails, chunk, now)
    chunk.write_attempts()
    # The message rows are in the database before any is handed to SMTP: a
    # worker killed while sending leaves them for the run's next attempt.
    db.session.commit()
    if prepared:
        _deliver_mails(prepared, chunk, now)
    chunk.finish(counts)


class _Chunk:
    """The attempts, outcomes and failures of the rows of one chunk."""

    def __init__(self, worker_id: str, now):
        self.worker_id, self.now = worker_id, now
        self.attempts, self.failures, self.outcomes = [], [], []
        self.lost = 0

    def done(self, run: StepRun, outcome: str, detail: str) -> None:
        self.attempts.append(
            {
                "run_id": run.id,
                "worker": self.worker_id,
                "started_at": self.now,
                "finished_at": utcnow(),
                "outcome": outcome,
                "detail": detail or "",
            }
        )
        self.outcomes.append((run.id, run.idempotency_key, outcome, detail))

    def write_attempts(self) -> None:
        if self.attempts:
            db.session.execute(insert(StepAttempt), self.attempts)
            self.attempts = []

    def finish(self, counts: dict) -> None:
        for run_id, key, outcome, detail in self.outcomes:
            logger.info(
                "step run %s (%s) %s by %s: %s",
                run_id,
                key,
                outcome,
                self.worker_id,
                detail,
            )
            counts[outcome] = counts.get(outcome, 0) + 1
        _count_lost(counts, self.lost)
        for run_id, exc in self.failures:
            outcome = _failed(run_id, self.worker_id, self.now, exc)
            counts[outcome] = counts.get(outcome, 0) + 1


def _count_lost(counts: dict, n: int) -> None:
    if n:
        # Reaped and handed to another worker meanwhile: no longer ours.
        counts["lost"] = counts.get("lost", 0) + n


def _email_or_end(run: StepRun, mails: list, now) -> tuple[str, str] | None:
    """Queue the run's e-mail for the chunk's batch, or end the run without one."""
    item = actions.email_item(run, run.contact, run.step.action or {})
    if isinstance(item, actions.Outcome):
        return _complete(run, item, now)
    mails.append((run, item))
    return None


def _prepare_mails(mails, chunk: _Chunk, now) -> list:
    """Write the message rows of the chunk's e-mails; end the refused runs.

    Each run keeps a reference to its message, so a later attempt at the
    same run (after a kill) reuses it: same Message-ID, same key.
    """
    from crm.mail import services as mail

    if not mails:
        return []
    savepoint = db.session.begin_nested()
    try:
        prepared = mail.prepare_many([item for _run, item in mails])
        pending = []
        for (run, _item), one in zip(mails, prepared, strict=True):
            if one.state == "queued" or one.delivered:
                # Delivered by an attempt that died before recording it: its
                # history event and last_sent_at are still to be written.
                run.result_ref = f"message:{one.id}"
                pending.append((run.id, one))
            else:
                chunk.done(run, *_complete(run, actions.email_outcome(one), now))
        db.session.flush()
        savepoint.commit()
    except Exception as exc:
        savepoint.rollback()
        logger.exception("e-mails of a chunk failed on %s", chunk.worker_id)
        chunk.failures += [(run.id, exc) for run, _item in mails]
        return []
    return pending


def _deliver_mails(pending, chunk: _Chunk, now) -> None:
    """Send the chunk's prepared e-mails, then record each run's outcome.

    Each message accepted by the server is recorded as sent in a commit of
    its own, so a worker killed here sends at most one message again (the
    one between the server's reply and that commit), with the same
    Message-ID and key; exactly once would need the receiver's help.
    """
    from crm.mail import services as mail

    ours = set(_take_many([run_id for run_id, _one in pending], chunk.worker_id, now))
    chunk.lost += len(pending) - len(ours)
    pending = [(run_id, one) for run_id, one in pending if run_id in ours]
    mail.deliver_many([one for _run_id, one in pending], durable=True)

    if db.engine.dialect.name != "postgresql":
        # The marks committed on the session's connection (SQLite), so the
        # rows are no longer held: take them again. On PostgreSQL the marks
        # went through a connection of their own and the rows stay locked.
        ours = set(
            _take_many([run_id for run_id, _one in pending], chunk.worker_id, now)
        )
        chunk.lost += len(pending) - len(ours)
    results = {run_id: one for run_id, one in pending}
    outcomes = {}
    for run_id in sorted(ours):
        try:
            outcomes[run_id] = actions.email_outcome(results[run_id])
        except actions.ServiceError as exc:
            chunk.failures.append((run_id, exc))
    left = _complete_in_bulk(outcomes, chunk, now)
    runs = [(run, outcomes[run.id]) for run in _load(left)] if left else []
    if runs and not _complete_together(runs, chunk, now):
        _complete_one_by_one(runs, chunk, now)
    chunk.write_attempts()
    db.session.commit()


def _complete_in_bulk(outcomes: dict, chunk: _Chunk, now) -> list[int]:
    """Record the outcomes that plan nothing with set statements; the ids left.

    A run that ends its contact's sequence, or whose enrollment is no longer
    active or has a step pending, changes its own row and at most its
    enrollment's status: those are written for all such runs at once,
    without loading them (``services.complete_finished``). A run whose
    outcome stops the sequence, whose contact has a next step to plan, or
    that shares its enrollment with another row of the chunk goes through
    ``_complete`` (the ids returned, in order).
    """
    if not outcomes:
        return []
    table, enrollments = StepRun.__table__, Enrollment.__table__
    rows = db.session.execute(
        select(
            table.c.id,
            table.c.idempotency_key,
            table.c.enrollment_id,
            enrollments.c.status,
            enrollments.c.occurrence,
            enrollments.c.sequence_id,
            enrollments.c.contact_id,
        )
        .join(enrollments, enrollments.c.id == table.c.enrollment_id)
        .where(table.c.id.in_(sorted(outcomes)))
    ).all()
    shared = Counter(row.enrollment_id for row in rows)
    simple = [
        row
        for row in rows
        if not outcomes[row.id].stop and shared[row.enrollment_id] == 1
    ]
    savepoint = db.session.begin_nested()
    try:
        left = services.complete_finished(
            simple,
            {row.id: outcomes[row.id].status for row in simple},
            now,
        )
        bulk = [row for row in simple if row.enrollment_id not in left]
        if bulk:
            db.session.execute(
                update(table)
                .where(table.c.id == bindparam("b_id"))
                .values(
                    status=bindparam("b_status"),
                    reason=bindparam("b_reason"),
                    finished_at=now,
                    result_ref=bindparam("b_ref"),
                ),
                [
                    {
                        "b_id": row.id,
                        "b_status": outcomes[row.id].status,
                        "b_reason": (outcomes[row.id].detail or "")[:255],
                        "b_ref": outcomes[row.id].ref,
                    }
                    for row in bulk
                ],
            )
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        logger.warning("worker %s: completing through the ORM", chunk.worker_id)
        return sorted(outcomes)
    for row in bulk:
        outcome = outcomes[row.id]
        chunk.done(row, outcome.status, outcome.detail)
    done = {row.id for row in bulk}
    return [run_id for run_id in sorted(outcomes) if run_id not in done]


def _complete_together(runs, chunk: _Chunk, now) -> bool:
    """Record the outcomes of many runs with one flush; False if one raised.

    The runs of the enrollments are read in one query and the changes
    flushed together, instead of a query and two updates per row.
    """
    savepoint = db.session.begin_nested()
    db.session.info[services.DEFER_FLUSH] = True
    try:
        plans = services.runs_by_enrollment({run.enrollment for run, _o in runs})
        with db.session.no_autoflush:
            ended = [
                (run, _complete(run, outcome, now, plans[run.enrollment_id]))
                for run, outcome in runs
            ]
        db.session.flush()
        savepoint.commit()
    except Exception:
        savepoint.rollback()
        logger.warning("worker %s: completing row by row", chunk.worker_id)
        return False
    finally:
        db.session.info.pop(services.DEFER_FLUSH, None)
    for run, (outcome, detail) in ended:
        chunk.done(run, outcome, detail)
    return True


def _complete_one_by_one(runs, chunk: _Chunk, now) -> None:
    """Each run's outcome in a savepoint of its own: one that raises fails alone."""
    for run, outcome in runs:
        savepoint = db.session.begin_nested()
        try:
            ended = _complete(run, outcome, now)
            savepoint.commit()
        except Exception as exc:
            savepoint.rollback()
            logger.exception("step run %s failed on %s", run.id, chunk.worker_id)
            chunk.failures.append((run.id, exc))
            continue
        chunk.done(run, *ended)


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
