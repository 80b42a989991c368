"""Follow-up sequences on a controllable clock: start, steps, pause, resume, remove."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from crm.automation import engine, services
from crm.automation.models import (
    CANCELLED,
    COMPLETED,
    DONE,
    EXPIRED,
    PAUSED,
    REMOVED,
    SCHEDULED,
    SKIPPED,
    StepAttempt,
    StepRun,
)
from crm.core.errors import ServiceError
from tests.automation_helpers import delay, make_sequence, tag, utc

T0 = utc(2026, 5, 4, 10, 0)


def runs(db, contact):
    return db.session.scalars(
        select(StepRun).where(StepRun.contact_id == contact.id).order_by(StepRun.id)
    ).all()


@pytest.fixture
def three_tags(db):
    return [tag(db, f"Step {i}") for i in (1, 2, 3)]


@pytest.fixture
def tag_sequence(db, three_tags):
    return make_sequence(
        db,
        steps=[
            ("none", None, "apply_tag", {"tag_id": three_tags[0].id}),
            ("delay", delay(1), "apply_tag", {"tag_id": three_tags[1].id}),
            ("delay", delay(2, "hours"), "apply_tag", {"tag_id": three_tags[2].id}),
        ],
    )


def tag_names(contact):
    return sorted(link.tag.name for link in contact.tag_links)


def test_a_sequence_runs_its_steps_in_order_on_their_timers(
    db, make_contact, tag_sequence
):
    jane = make_contact()
    enrollment = services.start(jane, tag_sequence, now=T0)
    db.session.commit()

    assert engine.drain("w1", now=T0) == {DONE: 1}
    assert tag_names(jane) == ["Step 1"]
    # "1 day" is the next calendar day at the same time; nothing runs before.
    assert engine.drain("w1", now=T0 + timedelta(hours=23)) == {}
    assert engine.drain("w1", now=utc(2026, 5, 5, 10, 0)) == {DONE: 1}
    assert engine.drain("w1", now=utc(2026, 5, 5, 11, 59)) == {}
    assert engine.drain("w1", now=utc(2026, 5, 5, 12, 0)) == {DONE: 1}

    db.session.refresh(enrollment)
    assert enrollment.status == COMPLETED
    assert tag_names(jane) == ["Step 1", "Step 2", "Step 3"]
    assert [r.status for r in runs(db, jane)] == [DONE, DONE, DONE]
    assert [r.due_at for r in runs(db, jane)] == [
        T0,
        utc(2026, 5, 5, 10),
        utc(2026, 5, 5, 12),
    ]
    keys = [r.idempotency_key for r in runs(db, jane)]
    step_ids = [s.id for s in tag_sequence.steps]
    assert keys == [f"{s}:{jane.id}:1" for s in step_ids]
    assert db.session.scalar(select(func.count()).select_from(StepAttempt)) == 3


def test_starting_an_active_contact_again_does_not_reset(
    db, make_contact, tag_sequence
):
    jane = make_contact()
    first = services.start(jane, tag_sequence, now=T0)
    db.session.commit()
    engine.drain("w1", now=T0)
    again = services.start(jane, tag_sequence, now=T0 + timedelta(hours=1))
    db.session.commit()

    assert again.id == first.id and again.occurrence == 1
    assert [r.status for r in runs(db, jane)] == [DONE, SCHEDULED]


def test_pause_stops_the_clock_and_resume_continues_from_the_next_step(
    db, make_contact, tag_sequence
):
    jane = make_contact()
    enrollment = services.start(jane, tag_sequence, now=T0)
    db.session.commit()
    engine.drain("w1", now=T0)

    services.pause(enrollment, now=T0 + timedelta(hours=1))
    db.session.commit()
    assert enrollment.status == PAUSED
    # While paused nothing runs, however late it gets.
    assert engine.drain("w1", now=utc(2026, 5, 20)) == {}

    services.resume(enrollment, now=utc(2026, 5, 20, 15, 0))
    db.session.commit()
    pending = services.pending_runs(enrollment)
    assert [r.due_at for r in pending] == [utc(2026, 5, 21, 15, 0)]
    assert engine.drain("w1", now=utc(2026, 5, 21, 15, 0)) == {DONE: 1}
    assert tag_names(jane) == ["Step 1", "Step 2"]


def test_removed_contact_gets_no_more_steps_and_a_restart_begins_again(
    db, make_contact, tag_sequence
):
    jane = make_contact()
    enrollment = services.start(jane, tag_sequence, now=T0)
    db.session.commit()
    engine.drain("w1", now=T0)

    assert services.remove(enrollment, reason="asked to stop", now=T0)
    db.session.commit()
    assert enrollment.status == REMOVED
    assert [r.status for r in runs(db, jane)] == [DONE, CANCELLED]
    assert engine.drain("w1", now=utc(2026, 6, 1)) == {}

    # Start begins at the first step again, under new keys.
    again = services.start(jane, tag_sequence, now=utc(2026, 6, 1))
    db.session.commit()
    assert again.occurrence == 2
    assert engine.drain("w1", now=utc(2026, 6, 1)) == {DONE: 1}
    assert runs(db, jane)[-1].idempotency_key.endswith(f":{jane.id}:2")


def test_run_next_step_now(db, make_contact, tag_sequence):
    jane = make_contact()
    enrollment = services.start(jane, tag_sequence, now=T0)
    db.session.commit()
    engine.drain("w1", now=T0)

    services.run_next_now(enrollment, now=T0 + timedelta(minutes=5))
    db.session.commit()
    assert engine.drain("w1", now=T0 + timedelta(minutes=5)) == {DONE: 1}
    assert tag_names(jane) == ["Step 1", "Step 2"]


def test_pause_and_resume_refuse_the_wrong_state(db, make_contact, tag_sequence):
    jane = make_contact()
    enrollment = services.start(jane, tag_sequence, now=T0)
    with pytest.raises(ServiceError, match="paused"):
        services.resume(enrollment, now=T0)
    services.pause(enrollment, now=T0)
    with pytest.raises(ServiceError, match="active"):
        services.pause(enrollment, now=T0)
    with pytest.raises(ServiceError, match="no step waiting"):
        services.run_next_now(enrollment, now=T0)


def test_a_step_past_its_lateness_is_expired_and_the_next_one_planned(
    db, make_contact, three_tags
):
    sequence = make_sequence(
        db,
        steps=[
            ("none", None, "apply_tag", {"tag_id": three_tags[0].id}),
            ("delay", delay(1, "hours"), "apply_tag", {"tag_id": three_tags[1].id}),
        ],
    )
    sequence.steps[0].max_lateness_minutes = 60
    db.session.commit()
    jane = make_contact()
    services.start(jane, sequence, now=T0)
    db.session.commit()

    # The scheduler was down for a day: the first step is too late.
    later = T0 + timedelta(days=1)
    assert engine.drain("w1", now=later) == {EXPIRED: 1}
    first, second = runs(db, jane)
    assert first.status == EXPIRED and "1440 minutes late" in first.reason
    assert second.due_at == later + timedelta(hours=1)
    assert tag_names(jane) == []


def test_catch_up_after_downtime_runs_each_due_step_once(db, make_contact, three_tags):
    sequence = make_sequence(
        db,
        steps=[
            ("delay", delay(10, "minutes"), "apply_tag", {"tag_id": three_tags[0].id})
        ],
    )
    contacts = [make_contact(f"C{i}") for i in range(5)]
    for contact in contacts:
        services.start(contact, sequence, now=T0)
    db.session.commit()

    # Down from T0 to T0 + 10 minutes past the due time; then two drains.
    restart = T0 + timedelta(minutes=20)
    assert engine.drain("w1", now=restart) == {DONE: 5}
    assert engine.drain("w2", now=restart) == {}
    assert db.session.scalar(select(func.count()).select_from(StepAttempt)) == 5


def test_a_date_timer_already_passed_skips_forward(db, make_contact, three_tags):
    sequence = make_sequence(
        db,
        steps=[
            ("date", {"day": "2026-05-01"}, "apply_tag", {"tag_id": three_tags[0].id}),
            ("none", None, "apply_tag", {"tag_id": three_tags[1].id}),
        ],
    )
    jane = make_contact()
    services.start(jane, sequence, now=T0)
    db.session.commit()
    first, second = runs(db, jane)
    assert first.status == SKIPPED and "passed" in first.reason
    assert second.status == SCHEDULED
    engine.drain("w1", now=T0)
    assert tag_names(jane) == ["Step 2"]


def test_a_field_timer_waits_for_the_contacts_birthday_in_its_zone(
    db, make_contact, three_tags
):
    from datetime import date

    sequence = make_sequence(
        db,
        steps=[
            (
                "field",
                {
                    "field": "birthday",
                    "amount": 1,
                    "unit": "days",
                    "before": True,
                    "start": "09:00",
                },
                "apply_tag",
                {"tag_id": three_tags[0].id},
            )
        ],
    )
    jane = make_contact(birthday=date(1990, 6, 15), time_zone="Europe/Paris")
    services.start(jane, sequence, now=T0)
    db.session.commit()
    (run,) = runs(db, jane)
    assert run.due_at == utc(2026, 6, 14, 7, 0)
    assert run.zone == "Europe/Paris"


def test_a_failing_step_is_retried_then_marked_failed(db, make_contact):
    sequence = make_sequence(db, steps=[("none", None, "apply_tag", {"tag_id": 999})])
    jane = make_contact()
    enrollment = services.start(jane, sequence, now=T0)
    db.session.commit()

    assert engine.drain("w1", now=T0) == {"retry": 1}
    assert engine.drain("w1", now=T0 + timedelta(minutes=1)) == {"retry": 1}
    assert engine.drain("w1", now=T0 + timedelta(minutes=3)) == {"failed": 1}
    (run,) = runs(db, jane)
    assert run.attempts == 3 and "no longer exists" in run.reason
    outcomes = db.session.scalars(select(StepAttempt.outcome)).all()
    assert outcomes == ["failed", "failed", "failed"]
    db.session.refresh(enrollment)
    assert enrollment.status == COMPLETED


def test_a_deleted_contact_stops_cleanly(db, make_contact, tag_sequence):
    jane = make_contact()
    services.start(jane, tag_sequence, now=T0)
    db.session.commit()
    db.session.delete(jane)
    db.session.commit()
    assert engine.drain("w1", now=utc(2026, 6, 1)) == {}
    assert db.session.scalar(select(func.count()).select_from(StepRun)) == 0


def test_assign_owner_set_field_and_start_sequence_actions(
    db, make_contact, make_user, three_tags
):
    owner = make_user("owner@example.com")
    follow_up = make_sequence(
        db,
        "Follow-up",
        steps=[("none", None, "apply_tag", {"tag_id": three_tags[2].id})],
    )
    sequence = make_sequence(
        db,
        steps=[
            ("none", None, "assign_owner", {"user_id": owner.id}),
            ("none", None, "set_field", {"field": "lead_source", "value": "Webinar"}),
            ("none", None, "start_sequence", {"sequence_id": follow_up.id}),
        ],
    )
    jane = make_contact()
    services.start(jane, sequence, now=T0)
    db.session.commit()
    assert engine.drain("w1", now=T0) == {DONE: 4}
    db.session.refresh(jane)
    assert jane.owner_id == owner.id
    assert jane.lead_source == "Webinar"
    assert tag_names(jane) == ["Step 3"]
    assert services.enrollment_for(jane.id, follow_up.id).status == COMPLETED


def test_set_field_refuses_a_field_outside_the_list(db, make_contact):
    sequence = make_sequence(
        db, steps=[("none", None, "set_field", {"field": "owner_id", "value": "1"})]
    )
    jane = make_contact()
    services.start(jane, sequence, now=T0)
    db.session.commit()
    engine.drain("w1", now=T0)
    (run,) = runs(db, jane)
    assert "cannot be set" in run.reason
    assert run.status == SCHEDULED
    assert jane.owner_id is None


@pytest.mark.parametrize(
    ("zone_name", "start", "expected"),
    [
        # Paris, autumn: 02:30 happens twice on 25 October; one run, the first.
        (
            "Europe/Paris",
            utc(2026, 10, 24, 0, 30),
            [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)],
        ),
        # Paris, spring: 02:30 does not exist on 29 March; one run at 03:00.
        (
            "Europe/Paris",
            utc(2026, 3, 28, 1, 30),
            [utc(2026, 3, 29, 1, 0), utc(2026, 3, 30, 0, 30)],
        ),
        # Los Angeles, both changes.
        (
            "America/Los_Angeles",
            utc(2026, 10, 31, 9, 30),
            [utc(2026, 11, 1, 10, 30), utc(2026, 11, 2, 10, 30)],
        ),
        (
            "America/Los_Angeles",
            utc(2026, 3, 7, 10, 30),
            [utc(2026, 3, 8, 10, 0), utc(2026, 3, 9, 9, 30)],
        ),
    ],
)
def test_daily_0230_steps_run_once_through_clock_changes(
    db, make_contact, three_tags, zone_name, start, expected
):
    at_0230 = {"amount": 1, "unit": "days", "start": "02:30"}
    sequence = make_sequence(
        db,
        steps=[
            ("delay", at_0230, "apply_tag", {"tag_id": three_tags[0].id}),
            ("delay", at_0230, "apply_tag", {"tag_id": three_tags[1].id}),
        ],
    )
    jane = make_contact(time_zone=zone_name)
    services.start(jane, sequence, now=start)
    db.session.commit()

    # The scheduler beats every 15 minutes through three days.
    moment, outcomes = start, []
    while moment < start + timedelta(days=3):
        outcomes.append(engine.drain("w1", now=moment))
        moment += timedelta(minutes=15)
    assert sum(o.get(DONE, 0) for o in outcomes) == 2
    assert [r.due_at for r in runs(db, jane)] == expected
    assert {r.zone for r in runs(db, jane)} == {zone_name}
