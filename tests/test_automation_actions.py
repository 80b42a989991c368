"""The "create a task" and "create a note" step actions, run by the engine."""

from datetime import timedelta

from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.automation import engine, services
from crm.automation.models import DONE, FAILED, Sequence, StepRun
from crm.tasks.models import Note, Task
from tests.automation_helpers import delay, make_sequence, utc

T0 = utc(2026, 5, 4, 10, 0)


def task_step(**settings):
    return (
        "none",
        None,
        "create_task",
        {"title": "Call ~Contact.FirstName~", **settings},
    )


def test_a_task_step_creates_the_task_for_the_contact_owner(
    db, make_user, make_contact
):
    owner = make_user(name="Olga Owner")
    jane = make_contact(owner=owner)
    sequence = make_sequence(
        db,
        steps=[
            task_step(
                description="Ask ~Contact.LastName~ about the trial",
                priority="critical",
                task_type="call",
                due_in_days=3,
            )
        ],
    )
    services.start(jane, sequence, now=T0)
    db.session.commit()

    assert engine.drain("w1", now=T0) == {DONE: 1}

    task = db.session.scalar(select(Task).where(Task.contact_id == jane.id))
    assert task.title == "Call Jane"
    assert task.description == "Ask Doe about the trial"
    assert (task.priority, task.task_type) == ("critical", "call")
    assert task.due_at == T0 + timedelta(days=3)
    assert task.assigned_to_id == owner.id
    assert task.created_by_id is None
    run = db.session.scalar(select(StepRun).where(StepRun.contact_id == jane.id))
    assert run.result_ref == f"task:{task.id}"
    assert (
        db.session.scalar(
            select(ActivityEvent.subject).where(
                ActivityEvent.contact_id == jane.id,
                ActivityEvent.kind == "task_created",
            )
        )
        == "Call Jane"
    )


def test_a_task_step_may_name_the_user_it_is_assigned_to(db, make_user, make_contact):
    owner, closer = make_user(), make_user(name="Carl Closer")
    jane = make_contact(owner=owner)
    sequence = make_sequence(db, steps=[task_step(user_id=closer.id)])
    services.start(jane, sequence, now=T0)
    db.session.commit()

    engine.drain("w1", now=T0)

    task = db.session.scalar(select(Task).where(Task.contact_id == jane.id))
    assert task.assigned_to_id == closer.id
    assert (task.priority, task.task_type, task.due_at) == ("essential", "other", T0)


def test_a_note_step_adds_a_typed_note_with_the_contact_name_merged(db, make_contact):
    jane = make_contact("Jane", "O'Hara")
    sequence = make_sequence(
        db,
        steps=[
            (
                "delay",
                delay(1),
                "create_note",
                {
                    "title": "Welcome call for ~Contact.FirstName~",
                    "note_type": "call",
                    "body": "<p>Spoke to ~Contact.FirstName~ ~Contact.LastName~"
                    "<script>alert(1)</script></p>",
                },
            )
        ],
    )
    services.start(jane, sequence, now=T0)
    db.session.commit()
    assert engine.drain("w1", now=T0) == {}

    assert engine.drain("w1", now=T0 + timedelta(days=1)) == {DONE: 1}

    note = db.session.scalar(select(Note).where(Note.contact_id == jane.id))
    assert note.title == "Welcome call for Jane"
    assert note.note_type == "call"
    assert note.body == "<p>Spoke to Jane O'Hara</p>"
    assert (
        db.session.scalar(
            select(ActivityEvent.kind).where(
                ActivityEvent.contact_id == jane.id, ActivityEvent.ref_type == "note"
            )
        )
        == "note_added"
    )


def test_a_task_step_whose_user_was_deleted_fails_with_a_reason(
    db, make_user, make_contact
):
    from crm.auth.models import User

    gone = make_user()
    jane = make_contact()
    sequence = make_sequence(db, steps=[task_step(user_id=gone.id)])
    db.session.delete(db.session.get(User, gone.id))
    services.start(jane, sequence, now=T0)
    db.session.commit()

    for attempt in range(engine.MAX_ATTEMPTS):
        engine.drain("w1", now=T0 + timedelta(hours=attempt))

    run = db.session.scalar(select(StepRun).where(StepRun.contact_id == jane.id))
    assert run.status == FAILED
    assert run.reason == "The step's assigned user no longer exists."
    assert db.session.scalar(select(Task).where(Task.contact_id == jane.id)) is None


def _new_sequence(web, name, kind, settings):
    return web.post(
        "/admin/sequence/new/",
        {
            "name": name,
            "position": "0",
            "steps-0-position": "1",
            "steps-0-name": "Only",
            "steps-0-timer_kind": "none",
            "steps-0-timer": "",
            "steps-0-action_kind": kind,
            "steps-0-action": settings,
        },
    )


def test_task_and_note_steps_are_edited_as_step_settings(db, web, login_as):
    login_as("admin")

    response = _new_sequence(
        web,
        "Tasks",
        "create_task",
        '{"title": "Call ~Contact.FirstName~", "priority": "critical", '
        '"due_in_days": 2}',
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    response = _new_sequence(
        web, "Notes", "create_note", '{"title": "Hello", "note_type": "letter"}'
    )
    assert response.status_code == 302, response.get_data(as_text=True)

    steps = {
        s.name: s.steps[0]
        for s in db.session.scalars(
            select(Sequence).where(Sequence.name.in_(["Tasks", "Notes"]))
        )
    }
    assert steps["Tasks"].action == {
        "title": "Call ~Contact.FirstName~",
        "priority": "critical",
        "due_in_days": 2,
    }
    assert steps["Notes"].action_kind == "create_note"


def test_task_and_note_settings_that_cannot_run_are_refused(db, web, login_as):
    login_as("admin")
    cases = [
        ("create_task", "{}", "A create-task step needs a title."),
        (
            "create_task",
            '{"title": "T", "priority": "urgent"}',
            "The task priority must be critical, essential or non_essential.",
        ),
        (
            "create_task",
            '{"title": "T", "due_in_days": -1}',
            "Due in days must be a whole number of days, 0 or more.",
        ),
        (
            "create_task",
            '{"title": "T", "user_id": 99999}',
            "The step&#39;s assigned user no longer exists.",
        ),
        ("create_task", '{"title": "~Contact.Shoe~"}', "Unknown merge field"),
        ("create_note", '{"body": "x"}', "A create-note step needs a title."),
        (
            "create_note",
            '{"title": "T", "note_type": "memo"}',
            "The note type must be call, email, fax, letter, appointment or other.",
        ),
    ]
    for number, (kind, settings, message) in enumerate(cases):
        response = _new_sequence(web, f"Broken {number}", kind, settings)
        assert message in response.get_data(as_text=True), (kind, settings)
    assert db.session.scalar(select(Sequence.id)) is None
