"""My tasks: the user's pending tasks on visible contacts, by when they are due."""

from datetime import UTC, datetime, timedelta

import pytest

from tests.access_helpers import grant, own_only, quick_user  # noqa: F401
from tests.record_helpers import sign_in

# 23:30 UTC on 10 March 2026 is 16:30 the same day in Los Angeles (PDT starts
# on 8 March) and already 00:30 on 11 March in Amsterdam.
NOW = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)


def _task(db, contact, user, title, due_at, **values):
    from crm.tasks import services
    from crm.tasks.models import Task

    task = Task(
        contact_id=contact.id,
        title=title,
        due_at=due_at,
        assigned_to_id=user.id,
        **values,
    )
    services.save_task(task, user, is_new=True)
    db.session.commit()
    return task


@pytest.fixture
def agenda(db, make_contact):
    user = own_only(db, quick_user(db, "me@example.com"))
    jane = make_contact(owner=user)
    due = {
        "an hour ago": NOW - timedelta(hours=1),
        "in 20 minutes": NOW + timedelta(minutes=20),
        "in 3 hours": NOW + timedelta(hours=3),
        "in 2 days": NOW + timedelta(days=2),
        "no due time": None,
    }
    for title, moment in due.items():
        _task(db, jane, user, title, moment)
    done = _task(db, jane, user, "done already", NOW - timedelta(days=1))
    done.completed = True
    db.session.commit()
    return user


@pytest.mark.parametrize(
    ("zone", "expected"),
    [
        (
            "UTC",
            {
                "overdue": ["an hour ago"],
                "today": ["in 20 minutes"],
                "upcoming": ["in 3 hours", "in 2 days", "no due time"],
            },
        ),
        (
            "America/Los_Angeles",
            {
                "overdue": ["an hour ago"],
                "today": ["in 20 minutes", "in 3 hours"],
                "upcoming": ["in 2 days", "no due time"],
            },
        ),
        (
            "Europe/Amsterdam",
            {
                "overdue": ["an hour ago"],
                "today": ["in 20 minutes", "in 3 hours"],
                "upcoming": ["in 2 days", "no due time"],
            },
        ),
    ],
)
def test_grouping_follows_the_users_day(app, agenda, zone, expected):
    from crm.tasks import services

    app.config["DEFAULT_TIMEZONE"] = zone

    groups = services.my_tasks(agenda, now=NOW)

    assert {k: [t.title for t in v] for k, v in groups.items()} == expected


def test_priority_filter(app, db, agenda):
    from crm.tasks import services
    from crm.tasks.models import Task

    task = db.session.query(Task).filter_by(title="in 2 days").one()
    task.priority = "critical"
    db.session.commit()

    groups = services.my_tasks(agenda, now=NOW, priority="critical")

    assert [t.title for tasks in groups.values() for t in tasks] == ["in 2 days"]


def test_screen_lists_only_my_tasks_on_contacts_i_see(web, db, make_contact, grant):  # noqa: F811
    from crm.tasks.models import Task

    me = sign_in(web, db, "me@example.com")
    own_only(db, me)
    other = own_only(db, quick_user(db, "other@example.com"))
    mine = make_contact(owner=me)
    hidden = make_contact("Hid", "Den", owner=other)
    shared = make_contact("Sha", "Red", owner=other)
    grant(shared, user=me, level="view")
    now = datetime.now(UTC)
    _task(db, mine, me, "Overdue call", now - timedelta(days=2), priority="critical")
    _task(db, mine, me, "Next week", now + timedelta(days=7))
    _task(db, mine, other, "Not mine", now + timedelta(days=7))
    _task(db, shared, me, "On a shared contact", now + timedelta(days=7))
    # Assigned to me, but on a contact I may no longer see.
    db.session.add(Task(contact_id=hidden.id, title="Zqhidden", assigned_to_id=me.id))
    db.session.commit()

    page = web.get("/admin/my-tasks/").get_data(as_text=True)

    overdue = page.split('id="group-overdue"')[1].split("</section>")[0]
    upcoming = page.split('id="group-upcoming"')[1].split("</section>")[0]
    assert "Overdue call" in overdue and "table-danger" in overdue
    assert "Next week" in upcoming and "On a shared contact" in upcoming
    for absent in ("Not mine", "Zqhidden"):
        assert absent not in page
    critical = web.get("/admin/my-tasks/?priority=critical").get_data(as_text=True)
    assert "Overdue call" in critical and "Next week" not in critical

    task = db.session.query(Task).filter_by(title="Overdue call").one()
    done = web.post(f"/admin/task/{task.id}/complete", {"back": "my_tasks"})
    assert done.headers["Location"].endswith("/admin/my-tasks/")
    after = web.get("/admin/my-tasks/").get_data(as_text=True)
    assert "Overdue call" not in after.split('id="group-overdue"')[1]

    # The shared contact is view-only: its task cannot be completed from here.
    viewed = db.session.query(Task).filter_by(title="On a shared contact").one()
    assert web.post(f"/admin/task/{viewed.id}/complete").status_code == 404


def test_administrators_see_anyones_list_users_only_their_own(web, db, make_contact):
    owner = quick_user(db, "owner@example.com")
    jane = make_contact(owner=owner)
    _task(db, jane, owner, "Owner task", None)

    sign_in(web, db, "plain@example.com")
    mine = web.get(f"/admin/my-tasks/?user_id={owner.id}").get_data(as_text=True)
    assert "Owner task" not in mine

    web.logout()
    sign_in(web, db, "boss@example.com", is_admin=True)
    theirs = web.get(f"/admin/my-tasks/?user_id={owner.id}").get_data(as_text=True)
    assert "Owner task" in theirs
    assert "Tasks of owner@example.com" in theirs


def test_names_with_markup_are_inert_on_my_tasks(web, db, make_contact):
    me = sign_in(web, db, "me@example.com")
    jane = make_contact("<body onload=alert(1)>", "Doe", owner=me)
    _task(db, jane, me, '<img src=x onerror="alert(2)">', None)

    page = web.get("/admin/my-tasks/").get_data(as_text=True)

    assert "<body onload" not in page and "<img src=x" not in page
    assert "&lt;body onload=alert(1)&gt;" in page
    assert "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in page
