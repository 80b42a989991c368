"""Contacts moving through sequences: start, pause, resume, remove, schedule.

A contact's position in a sequence is read from its step runs: the next step
is the first one of the sequence with no run in the current occurrence. Each
function here adds and flushes; the request, command or worker commits.
"""

import logging
from datetime import date, datetime, timedelta

from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, select, update

from crm.automation import timers
from crm.automation.models import (
    ACTIVE,
    CANCELLED,
    CLAIMED,
    COMPLETED,
    PAUSED,
    REMOVED,
    SCHEDULED,
    SKIPPED,
    Enrollment,
    Sequence,
    Step,
    StepRun,
)
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db

logger = logging.getLogger(__name__)

#: A step added to a live sequence runs at once when it "should have" run
#: within this long; an older one is skipped.
CATCH_UP_WINDOW = timedelta(days=7)
PENDING = (SCHEDULED, CLAIMED)


def idempotency_key(step_id: int, contact_id: int, occurrence: int) -> str:
    """The key that makes one step run at most once per contact and start."""
    return f"{step_id}:{contact_id}:{occurrence}"


def _actor_name(actor) -> str:
    return getattr(actor, "email", None) or "system"


# Time zones and due times.
def default_zone() -> str:
    return current_app.config.get("DEFAULT_TIME_ZONE") or "UTC"


def zone_name_for(step: Step, contact) -> str:
    """The zone a step's wall-clock rules are read in for ``contact``.

    The contact's own zone unless the timer says otherwise, then the
    campaign's, then the application default.
    """
    settings = step.timer or {}
    campaign = step.sequence.campaign
    candidates = []
    if settings.get("contact_zone", True):
        candidates.append(contact.time_zone)
    candidates.append(campaign.time_zone if campaign is not None else None)
    candidates.append(default_zone())
    for name in candidates:
        if name and timers.zone(name, "").key == name:
            return name
    return "UTC"


def field_value(contact, field: str) -> date | None:
    """The date in a contact's date field: birthday, anniversary or a custom one."""
    if field in ("birthday", "anniversary"):
        return getattr(contact, field)
    if field.startswith("custom:"):
        from crm.customfields.models import CustomField, CustomValue

        value = db.session.scalar(
            select(CustomValue.value)
            .join(CustomField, CustomField.id == CustomValue.field_id)
            .where(
                CustomValue.contact_id == contact.id,
                CustomField.field_name == field.removeprefix("custom:"),
            )
        )
        try:
            return date.fromisoformat(str(value)[:10]) if value else None
        except ValueError:
            return None
    raise ServiceError(_("A field timer needs a date field."))


def compute_due(step: Step, contact, base: datetime) -> tuple[datetime | None, str]:
    """When ``step`` falls due for ``contact`` after ``base``, and in which zone.

    None as the time means the timer can no longer fire (a date passed).
    """
    zone_name = zone_name_for(step, contact)
    tz = timers.zone(zone_name)
    settings = step.timer or {}
    window = timers.Window.from_config(settings)

    if step.timer_kind in (None, "", "none"):
        return base, zone_name
    if step.timer_kind == "delay":
        due = timers.delay_due(
            base,
            int(settings.get("amount", 0)),
            settings.get("unit", "days"),
            tz,
            window,
        )
    elif step.timer_kind == "date":
        last = settings.get("last_day")
        due = timers.date_due(
            base,
            date.fromisoformat(settings["day"]),
            tz,
            date.fromisoformat(last) if last else None,
            window,
        )
    elif step.timer_kind == "field":
        due = timers.field_due(
            base,
            field_value(contact, settings.get("field", "birthday")),
            tz,
            int(settings.get("amount", 0)),
            settings.get("unit", "days"),
            bool(settings.get("before", False)),
            bool(settings.get("use_year", False)),
            window,
        )
    else:
        raise ServiceError(_("This step has a timer of an unknown kind."))
    return due, zone_name


# Membership.
def enrollment_for(contact_id: int, sequence_id: int) -> Enrollment | None:
    return db.session.scalar(
        select(Enrollment).where(
            Enrollment.contact_id == contact_id, Enrollment.sequence_id == sequence_id
        )
    )


def start(contact, sequence: Sequence, actor=None, now=None) -> Enrollment:
    """Put ``contact`` at the first step of ``sequence``.

    A contact already active or paused in it is left as it is (starting does
    not reset); a completed or removed one starts over, with new run keys.
    """
    now = now or utcnow()
    enrollment = enrollment_for(contact.id, sequence.id)
    if enrollment is not None and enrollment.status in (ACTIVE, PAUSED):
        return enrollment

    if enrollment is None:
        enrollment = Enrollment(
            contact_id=contact.id, sequence_id=sequence.id, occurrence=1
        )
        db.session.add(enrollment)
    else:
        enrollment.occurrence += 1
    enrollment.status = ACTIVE
    enrollment.reason = ""
    enrollment.started_at = now
    enrollment.updated_at = now
    db.session.flush()
    logger.info(
        "contact %s started in sequence %s (occurrence %s) by %s",
        contact.id,
        sequence.id,
        enrollment.occurrence,
        _actor_name(actor),
    )
    schedule_next(enrollment, now)
    return enrollment


def pause(enrollment: Enrollment, actor=None, now=None) -> None:
    """Stop the clock: the planned step is dropped until the contact resumes."""
    if enrollment.status != ACTIVE:
        raise ServiceError(_("Only an active sequence can be paused."))
    enrollment.status = PAUSED
    enrollment.updated_at = now or utcnow()
    _drop_plans(enrollment)
    logger.info(
        "sequence %s paused for contact %s by %s",
        enrollment.sequence_id,
        enrollment.contact_id,
        _actor_name(actor),
    )


def resume(enrollment: Enrollment, actor=None, now=None) -> None:
    """Continue a paused sequence from its next step, timed from now."""
    if enrollment.status != PAUSED:
        raise ServiceError(_("Only a paused sequence can be resumed."))
    now = now or utcnow()
    enrollment.status = ACTIVE
    enrollment.updated_at = now
    db.session.flush()
    logger.info(
        "sequence %s resumed for contact %s by %s",
        enrollment.sequence_id,
        enrollment.contact_id,
        _actor_name(actor),
    )
    schedule_next(enrollment, now)


def remove(enrollment: Enrollment, actor=None, reason: str = "", now=None) -> bool:
    """Take the contact out of the sequence; its planned steps are cancelled."""
    if enrollment.status not in (ACTIVE, PAUSED):
        return False
    now = now or utcnow()
    enrollment.status = REMOVED
    enrollment.reason = (reason or "")[:255]
    enrollment.updated_at = now
    for run in pending_runs(enrollment):
        if run.status == SCHEDULED:
            run.status = CANCELLED
            run.finished_at = now
            run.reason = enrollment.reason
    db.session.flush()
    logger.info(
        "contact %s removed from sequence %s by %s (%s)",
        enrollment.contact_id,
        enrollment.sequence_id,
        _actor_name(actor),
        reason or "no reason given",
    )
    return True


def run_next_now(enrollment: Enrollment, actor=None, now=None) -> StepRun:
    """Make the contact's planned step due at once."""
    run = next((r for r in pending_runs(enrollment) if r.status == SCHEDULED), None)
    if enrollment.status != ACTIVE or run is None:
        raise ServiceError(_("This sequence has no step waiting to run."))
    return run_now(run, actor, now)


def run_now(run: StepRun, actor=None, now=None) -> StepRun:
    """Move a scheduled step's due time to now."""
    if run.status != SCHEDULED:
        raise ServiceError(_("Only a step that is waiting can run now."))
    run.due_at = now or utcnow()
    db.session.flush()
    logger.info("step run %s set to run now by %s", run.id, _actor_name(actor))
    return run


def cancel_run(run: StepRun, actor=None, now=None) -> None:
    """Cancel one waiting step; the contact moves on to the next one."""
    if run.status != SCHEDULED:
        raise ServiceError(_("Only a step that is waiting can be cancelled."))
    now = now or utcnow()
    run.status = CANCELLED
    run.finished_at = now
    with force_locale("en"):  # stored in English, shown via stored_message
        run.reason = _("Cancelled by %(user)s", user=_actor_name(actor))
    db.session.flush()
    logger.info("step run %s cancelled by %s", run.id, _actor_name(actor))
    if run.enrollment.status == ACTIVE:
        schedule_next(run.enrollment, now)


def resend(run: StepRun, actor=None, now=None) -> None:
    """Run a finished step again, now (the user asked for it explicitly).

    Only while the contact is still in the sequence (active or completed): a
    paused or removed sequence would cancel the step instead of running it,
    so the user is told what to do first. The run gets a new idempotency key,
    so the e-mail it sends again is a new message, not a repeat to be dropped.
    """
    if run.status in PENDING:
        raise ServiceError(_("This step is already waiting to run."))
    enrollment = run.enrollment
    if enrollment.status == PAUSED:
        raise ServiceError(
            _("The sequence is paused for this contact: resume it to resend the step.")
        )
    if enrollment.status == REMOVED:
        raise ServiceError(
            _(
                "The contact was removed from this sequence (%(reason)s), so the "
                "step cannot run again.",
                reason=enrollment.reason or _("no reason given"),
            )
        )
    run.status = SCHEDULED
    run.due_at = now or utcnow()
    run.finished_at = None
    # A new message under a new key: the one sent before is not the one to
    # reuse, nor a repeat for a receiver to drop.
    run.result_ref = None
    run.idempotency_key = _resend_key(run.idempotency_key)
    with force_locale("en"):
        run.reason = _("Resend requested by %(user)s", user=_actor_name(actor))
    db.session.flush()
    logger.info("step run %s resent by %s", run.id, _actor_name(actor))


def _resend_key(key: str) -> str:
    """The key of the next resend: "<key>/r1", then "<key>/r2"..."""
    base, _slash, count = key.partition("/r")
    return f"{base}/r{int(count) + 1 if count.isdigit() else 1}"


# Scheduling.
def pending_runs(enrollment: Enrollment) -> list[StepRun]:
    return list(
        db.session.scalars(
            select(StepRun).where(
                StepRun.enrollment_id == enrollment.id,
                StepRun.occurrence == enrollment.occurrence,
                StepRun.status.in_(PENDING),
            )
        )
    )


def _runs_by_step(enrollment: Enrollment) -> dict[int, StepRun]:
    rows = db.session.scalars(
        select(StepRun).where(
            StepRun.enrollment_id == enrollment.id,
            StepRun.occurrence == enrollment.occurrence,
        )
    )
    return {run.step_id: run for run in rows}


def _drop_plans(enrollment: Enrollment) -> None:
    """Delete planned runs nobody has tried yet (they are plans, not history)."""
    db.session.flush()
    db.session.execute(
        delete(StepRun)
        .where(
            StepRun.enrollment_id == enrollment.id,
            StepRun.status == SCHEDULED,
            StepRun.attempts == 0,
        )
        .execution_options(synchronize_session="fetch")
    )
    db.session.flush()


#: Set in ``session.info`` by a batch that flushes its rows' changes together.
DEFER_FLUSH = "crm_automation_defer_flush"


def runs_by_enrollment(enrollments) -> dict[int, dict[int, StepRun]]:
    """``_runs_by_step`` for many enrollments in one query."""
    current = {e.id: e.occurrence for e in enrollments}
    found = {enrollment_id: {} for enrollment_id in current}
    rows = db.session.scalars(
        select(StepRun).where(StepRun.enrollment_id.in_(sorted(current)))
    )
    for run in rows:
        if run.occurrence == current[run.enrollment_id]:
            found[run.enrollment_id][run.step_id] = run
    return found


def schedule_next(enrollment: Enrollment, now=None, *, catch_up=False, runs=None):
    """Plan the contact's next step, or complete the sequence when none is left.

    Steps whose timer can no longer fire are recorded as skipped and the
    contact moves past them. With ``catch_up`` (a live sequence was edited) a
    missing step is timed from when the one before it finished: due within
    the last seven days it runs now, older it is skipped. A batch passes the
    enrollment's ``runs`` by step id, read for all its rows at once.
    """
    now = now or utcnow()
    if enrollment.status != ACTIVE:
        return None
    contact = enrollment.contact
    runs = _runs_by_step(enrollment) if runs is None else runs
    base = now if not catch_up else enrollment.started_at

    for step in enrollment.sequence.steps:
        run = runs.get(step.id)
        if run is not None:
            if run.status in PENDING:
                return run
            base = (run.finished_at or now) if catch_up else now
            continue

        due, zone_name = compute_due(step, contact, base)
        run = StepRun(
            enrollment_id=enrollment.id,
            contact_id=enrollment.contact_id,
            step_id=step.id,
            occurrence=enrollment.occurrence,
            zone=zone_name,
            idempotency_key=idempotency_key(
                step.id, enrollment.contact_id, enrollment.occurrence
            ),
        )
        if due is None:
            _skip(run, now, _("The timer's date has passed."))
        elif catch_up and due < now - CATCH_UP_WINDOW:
            _skip(run, now, _("Added to the live sequence after its time had passed."))
        else:
            run.due_at = max(due, now) if catch_up else due
            run.status = SCHEDULED
        db.session.add(run)
        db.session.flush()
        if run.status == SCHEDULED:
            return run
        base = now

    enrollment.status = COMPLETED
    enrollment.updated_at = now
    if not db.session.info.get(DEFER_FLUSH):
        db.session.flush()
    logger.info(
        "contact %s completed sequence %s",
        enrollment.contact_id,
        enrollment.sequence_id,
    )
    return None


def complete_finished(enrollments, finished: dict[int, str], now) -> set[int]:
    """``schedule_next`` where nothing needs planning; the enrollments left to it.

    For many enrollments whose step just finished: ``enrollments`` are rows
    with ``enrollment_id``, ``status``, ``occurrence``, ``sequence_id`` and
    ``contact_id``; ``finished`` gives the new status of each run that
    finished (by run id, not yet written). One that is no longer active is
    left as it is, one with a step still pending too, and one whose every
    step has a finished run completes its sequence (one UPDATE for all).
    The ids of those with a step to plan, or with two runs of one step in
    the occurrence, are returned for ``schedule_next``.
    """
    active = {row.enrollment_id: row for row in enrollments if row.status == ACTIVE}
    if not active:
        return set()
    sequences = {row.sequence_id for row in active.values()}
    steps: dict[int, list[int]] = {sequence_id: [] for sequence_id in sequences}
    for step_id, sequence_id in db.session.execute(
        select(Step.id, Step.sequence_id).where(Step.sequence_id.in_(sorted(sequences)))
    ):
        steps[sequence_id].append(step_id)
    runs: dict[int, dict[int, list[str]]] = {enrollment: {} for enrollment in active}
    for run_id, enrollment_id, occurrence, step_id, status in db.session.execute(
        select(
            StepRun.id,
            StepRun.enrollment_id,
            StepRun.occurrence,
            StepRun.step_id,
            StepRun.status,
        ).where(StepRun.enrollment_id.in_(sorted(active)))
    ):
        if occurrence == active[enrollment_id].occurrence:
            by_step = runs[enrollment_id].setdefault(step_id, [])
            by_step.append(finished.get(run_id, status))

    left, completing = set(), []
    for enrollment_id, row in active.items():
        found = [
            runs[enrollment_id].get(step_id, []) for step_id in steps[row.sequence_id]
        ]
        if any(len(of_step) != 1 for of_step in found):
            left.add(enrollment_id)
        elif not any(of_step[0] in PENDING for of_step in found):
            completing.append(row)
    if completing:
        table = Enrollment.__table__
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.status == ACTIVE)
            .values(status=COMPLETED, updated_at=now),
            [{"b_id": row.enrollment_id} for row in completing],
        )
        for row in completing:
            logger.info(
                "contact %s completed sequence %s", row.contact_id, row.sequence_id
            )
    return left


def _skip(run: StepRun, now, reason: str) -> None:
    run.status = SKIPPED
    run.due_at = now
    run.finished_at = now
    run.reason = reason[:255]


def recalculate(sequence: Sequence, now=None) -> int:
    """Re-plan every active contact of an edited live sequence.

    Planned steps nobody tried yet are dropped and planned again from the
    current steps, so a step inserted before them, a changed timer or a
    removed step takes effect; steps already run are never run again.
    Returns how many contacts were re-planned.
    """
    now = now or utcnow()
    enrollments = db.session.scalars(
        select(Enrollment).where(
            Enrollment.sequence_id == sequence.id, Enrollment.status == ACTIVE
        )
    ).all()
    db.session.expire(sequence, ["steps"])
    for enrollment in enrollments:
        _drop_plans(enrollment)
        schedule_next(enrollment, now, catch_up=True)
    logger.info(
        "live sequence %s recalculated for %s contacts", sequence.id, len(enrollments)
    )
    return len(enrollments)


def counts_by_status(sequence_id: int) -> dict[str, int]:
    rows = db.session.execute(
        select(Enrollment.status, func.count())
        .where(Enrollment.sequence_id == sequence_id)
        .group_by(Enrollment.status)
    )
    return dict(rows.all())
