"""Reminders: due once, claimed by one runner only, in the app until dismissed."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from tests.access_helpers import own_only, quick_user
from tests.record_helpers import sign_in

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def _task(db, contact, user, title, due_at, minutes=15, **values):
    from crm.tasks import services
    from crm.tasks.models import Task

    task = Task(
        contact_id=contact.id,
        title=title,
        due_at=due_at,
        remind_minutes=minutes,
        assigned_to_id=user.id,
        **values,
    )
    services.save_task(task, user, is_new=True)
    db.session.commit()
    return task


def _appointment(db, contact, user, title, starts_at, minutes=30):
    from crm.tasks import services
    from crm.tasks.models import Appointment

    appointment = Appointment(
        contact_id=contact.id,
        title=title,
        starts_at=starts_at,
        ends_at=starts_at + timedelta(hours=1),
        remind_minutes=minutes,
        assigned_to_id=user.id,
    )
    services.save_appointment(appointment, user, is_new=True)
    db.session.commit()
    return appointment


@pytest.fixture
def due_world(db, make_contact):
    user = quick_user(db, "me@example.com")
    jane = make_contact(owner=user)
    rows = {
        "due task": _task(db, jane, user, "due task", NOW + timedelta(minutes=10)),
        "later task": _task(db, jane, user, "later task", NOW + timedelta(hours=2)),
        "done task": _task(
            db, jane, user, "done task", NOW, completed=True, completed_at=NOW
        ),
        "due appointment": _appointment(
            db, jane, user, "due appointment", NOW + timedelta(minutes=20)
        ),
        "past appointment": _appointment(
            db, jane, user, "past appointment", NOW - timedelta(hours=3)
        ),
    }
    return user, jane, rows


def test_a_reminder_is_claimed_once(db, due_world):
    from crm.tasks import reminders
    from crm.tasks.models import Appointment, Task

    _user, _jane, rows = due_world

    first = reminders.claim_due(NOW)
    db.session.commit()
    second = reminders.claim_due(NOW + timedelta(minutes=1))
    db.session.commit()

    assert first == {
        Task: [rows["due task"].id],
        Appointment: [rows["due appointment"].id],
    }
    assert second == {Task: [], Appointment: []}
    db.session.expire_all()
    assert db.session.get(Task, rows["due task"].id).reminder_sent_at == NOW
    assert db.session.get(Task, rows["later task"].id).reminder_sent_at is None


def test_moving_the_due_time_arms_the_reminder_again(db, due_world):
    from crm.tasks import reminders, services
    from crm.tasks.models import Task

    user, _jane, rows = due_world
    reminders.claim_due(NOW)
    db.session.commit()

    task = db.session.get(Task, rows["due task"].id)
    task.due_at = NOW + timedelta(days=1)
    services.save_task(task, user, is_new=False)
    db.session.commit()

    assert task.reminder_sent_at is None
    assert reminders.claim_due(NOW)[Task] == []
    assert task.id in reminders.claim_due(NOW + timedelta(days=1))[Task]


def test_two_runners_never_claim_the_same_reminder(app, db, make_contact):
    from crm.tasks import reminders
    from crm.tasks.models import Task

    user = quick_user(db, "me@example.com")
    jane = make_contact(owner=user)
    ids = [
        _task(db, jane, user, f"task {n}", NOW + timedelta(minutes=5)).id
        for n in range(40)
    ]
    start = threading.Barrier(2)
    results, errors = [], []

    def runner():
        try:
            with app.app_context():
                start.wait(timeout=10)
                claimed = reminders.claim_due(NOW)[Task]
                db.session.commit()
                results.append(claimed)
                db.session.remove()
        except Exception as exc:  # reported below, not swallowed
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert len(results) == 2
    assert sorted(results[0] + results[1]) == sorted(ids)
    assert not set(results[0]) & set(results[1])


def test_due_reminders_show_in_the_app_until_dismissed(web, db, make_contact):
    from crm.tasks.models import Task

    me = sign_in(web, db, "me@example.com")
    jane = make_contact(owner=me)
    now = datetime.now(UTC)
    task = _task(db, jane, me, "Call back soon", now + timedelta(minutes=5))
    _task(db, jane, me, "Not yet", now + timedelta(days=3))
    appointment = _appointment(
        db, jane, me, "Demo meeting", now + timedelta(minutes=10)
    )

    page = web.get("/admin/reminders/").get_data(as_text=True)

    assert "Reminders (2)" in page  # the menu entry counts them
    listed = page.split('id="reminders"')[1]
    assert "Call back soon" in listed and "Demo meeting" in listed
    assert "Not yet" not in listed

    response = web.post(f"/admin/reminders/task/{task.id}/dismiss")
    assert response.status_code == 302
    page = web.get("/admin/reminders/").get_data(as_text=True)
    assert "Reminders (1)" in page
    assert "Call back soon" not in page.split('id="reminders"')[1]
    db.session.expire_all()
    dismissed = db.session.get(Task, task.id)
    assert dismissed.reminder_dismissed_at is not None
    # Dismissing in the app does not stop the e-mail.
    assert dismissed.reminder_sent_at is None

    web.post(f"/admin/reminders/appointment/{appointment.id}/dismiss")
    page = web.get("/admin/reminders/").get_data(as_text=True)
    assert 'id="no-reminders"' in page and "Reminders (" not in page


def test_someone_elses_reminder_cannot_be_dismissed(web, db, make_contact):
    from crm.tasks.models import Task

    other = quick_user(db, "other@example.com")
    jane = make_contact(owner=other)
    task = _task(db, jane, other, "Theirs", datetime.now(UTC))
    sign_in(web, db, "me@example.com", is_admin=True)

    assert web.post(f"/admin/reminders/task/{task.id}/dismiss").status_code == 404
    assert web.post("/admin/reminders/task/999999/dismiss").status_code == 404
    db.session.expire_all()
    assert db.session.get(Task, task.id).reminder_dismissed_at is None


def test_reminders_of_contacts_no_longer_visible_are_not_listed(web, db, make_contact):
    me = sign_in(web, db, "me@example.com")
    own_only(db, me)
    other = quick_user(db, "other@example.com")
    theirs = make_contact("Zq", "Hidden", owner=other)
    task = _task(db, theirs, me, "Zqhidden reminder", datetime.now(UTC))

    page = web.get("/admin/reminders/").get_data(as_text=True)

    assert "Zqhidden reminder" not in page and "Reminders (" not in page
    assert web.post(f"/admin/reminders/task/{task.id}/dismiss").status_code == 404
