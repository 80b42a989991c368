"""Many due steps at once, and worker processes to drain them (tests and bench)."""

import multiprocessing

from sqlalchemy import func, insert, select

from crm.automation import services
from crm.automation.models import Enrollment, Sequence, Step, StepRun
from crm.contacts.models import Contact, ContactEmail
from crm.core.db import utcnow
from crm.extensions import db


def seed(count, action_kind, action, due=None):
    """``count`` contacts, each active in one sequence with one due step.

    Rows go in with bulk inserts; returns the step.
    """
    due = due or utcnow()
    sequence = Sequence(name=f"Load {action_kind} {due.timestamp()}")
    step = Step(position=1, action_kind=action_kind, action=action, sequence=sequence)
    db.session.add_all([sequence, step])
    db.session.flush()

    first = (db.session.scalar(select(func.max(Contact.id))) or 0) + 1
    ids = range(first, first + count)
    db.session.execute(
        insert(Contact),
        [
            {
                "id": i,
                "version": 1,
                "given_name": f"Load{i}",
                "family_name": "Contact",
                "source_type": "MANUAL",
                "search_text": f"load{i}",
                "primary_email": f"load{i}@example.com",
                "created_at": due,
                "updated_at": due,
            }
            for i in ids
        ],
    )
    db.session.execute(
        insert(ContactEmail),
        [
            {
                "contact_id": i,
                "slot": 1,
                "address": f"load{i}@example.com",
                "normalized": f"load{i}@example.com",
            }
            for i in ids
        ],
    )
    db.session.execute(
        insert(Enrollment),
        [
            {
                "contact_id": i,
                "sequence_id": sequence.id,
                "status": "active",
                "occurrence": 1,
                "reason": "",
                "started_at": due,
                "updated_at": due,
            }
            for i in ids
        ],
    )
    enrollments = dict(
        db.session.execute(
            select(Enrollment.contact_id, Enrollment.id).where(
                Enrollment.sequence_id == sequence.id
            )
        ).all()
    )
    db.session.execute(
        insert(StepRun),
        [
            {
                "enrollment_id": enrollments[i],
                "contact_id": i,
                "step_id": step.id,
                "occurrence": 1,
                "due_at": due,
                "zone": "UTC",
                "status": "scheduled",
                "attempts": 0,
                "reason": "",
                "idempotency_key": services.idempotency_key(step.id, i, 1),
                "created_at": due,
            }
            for i in ids
        ],
    )
    if action_kind == "send_email":
        _opt_in(ids, due)
    if db.engine.dialect.name == "postgresql":
        # Bulk inserts with explicit ids leave the sequence behind.
        db.session.execute(
            select(
                func.setval(
                    func.pg_get_serial_sequence("contacts", "id"),
                    first + count,
                )
            )
        )
    db.session.commit()
    return step


def _opt_in(ids, when):
    """Give each address marketing consent, as a single opt-in would."""
    from crm.mail import statuses
    from crm.mail.models import EmailAddressStatus

    db.session.execute(
        insert(EmailAddressStatus),
        [
            {
                "address": f"load{i}@example.com",
                "status": statuses.SINGLE_OPT_IN,
                "reason": "load test",
                "changed_at": when,
                "soft_bounces": 0,
                "hard_bounces": 0,
            }
            for i in ids
        ],
    )


def start_workers(settings, count, batch=20, poll=0.2):
    """``count`` worker processes as ``flask scheduler run`` starts them."""
    from crm.automation.scheduler import worker_main

    context = multiprocessing.get_context("spawn")
    processes = [
        context.Process(
            target=worker_main,
            args=(settings, f"load-w{i}", batch, poll),
            name=f"load-worker-{i}",
        )
        for i in range(count)
    ]
    for process in processes:
        process.start()
    return processes


def status_counts(step_id):
    db.session.rollback()
    return dict(
        db.session.execute(
            select(StepRun.status, func.count())
            .where(StepRun.step_id == step_id)
            .group_by(StepRun.status)
        ).all()
    )
