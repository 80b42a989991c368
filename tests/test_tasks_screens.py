"""The task, appointment and note screens over HTTP, from the record's Tasks tab."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.access_helpers import grant, own_only, quick_user  # noqa: F401
from tests.record_helpers import read_form, record_url, sign_in


def tab_section(page):
    """The Tasks tab's own HTML, without the menus around it."""
    return page.split('id="tasks-tab"', 1)[1]


def admin_form(html):
    """The values of Flask-Admin's create or edit form, as a browser sends them."""
    return read_form(
        html.replace('class="admin-form"', 'id="admin-form"', 1), "admin-form"
    )


def _create(web, kind, contact_id, **fields):
    page = web.get(f"/admin/{kind}/new/?contact_id={contact_id}")
    assert page.status_code == 200
    data = admin_form(page.get_data(as_text=True))
    data.update(fields)
    return web.post(f"/admin/{kind}/new/?contact_id={contact_id}", data)


def test_task_added_from_the_tab_returns_to_it_with_an_event(web, db, make_contact):
    from crm.activity.models import ActivityEvent
    from crm.tasks.models import Task

    user = sign_in(web, db)
    jane = make_contact(owner=user)

    tab = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert f"/admin/task/new/?contact_id={jane.id}" in tab.replace("&amp;", "&")

    response = _create(
        web,
        "task",
        jane.id,
        title="Call Jane back",
        priority="critical",
        due_at="2030-05-01T09:30",
        remind_minutes="15",
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert response.headers["Location"].endswith(
        f"/admin/contact/details/?id={jane.id}&tab=tasks"
    )

    task = db.session.scalar(select(Task))
    assert (task.title, task.priority, task.contact_id) == (
        "Call Jane back",
        "critical",
        jane.id,
    )
    assert task.assigned_to_id == user.id and task.created_by_id == user.id
    assert task.due_at == datetime(2030, 5, 1, 9, 30, tzinfo=UTC)
    assert task.remind_at == task.due_at - timedelta(minutes=15)
    event = db.session.scalar(select(ActivityEvent))
    assert (event.kind, event.ref_type, event.ref_id) == (
        "task_created",
        "task",
        task.id,
    )
    assert "Call Jane back" in web.get(record_url(jane.id, "tasks")).get_data(
        as_text=True
    )


NOW = datetime.now(UTC)


@pytest.mark.parametrize(
    ("kind", "fields", "message"),
    [
        ("task", {"title": "  "}, "Enter a title."),
        ("task", {"title": "x" * 256}, "Field cannot be longer than 255 characters."),
        (
            "task",
            {"title": "Call", "remind_minutes": "15", "due_at": ""},
            "A reminder needs a due date and time.",
        ),
        (
            "task",
            {"title": "Call", "remind_minutes": "7", "due_at": "2030-01-01T10:00"},
            "Choose a reminder time from the list.",
        ),
        (
            "appointment",
            {
                "title": "Meeting",
                "starts_at": "2030-01-01T10:00",
                "ends_at": "2030-01-01T09:00",
            },
            "The appointment must end after it starts.",
        ),
        (
            "appointment",
            {
                "title": "Meeting",
                "starts_at": "2030-01-01T10:00",
                "ends_at": "2030-01-01T10:00",
            },
            "The appointment must end after it starts.",
        ),
        (
            "appointment",
            {
                "title": "",
                "starts_at": "2030-01-01T10:00",
                "ends_at": "2030-01-01T11:00",
            },
            "This field is required.",
        ),
        ("note", {"title": "", "body": "<p>Hello</p>"}, "This field is required."),
        ("note", {"title": " ", "body": "<p>Hello</p>"}, "Enter a title."),
    ],
)
def test_bad_input_is_refused_with_a_message_and_writes_nothing(
    web, db, make_contact, kind, fields, message
):
    from crm.activity.models import ActivityEvent
    from crm.tasks.models import Appointment, Note, Task

    user = sign_in(web, db)
    jane = make_contact(owner=user)

    response = _create(web, kind, jane.id, **fields)

    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert message in page
    assert "Traceback" not in page
    for model in (Task, Appointment, Note, ActivityEvent):
        assert db.session.scalar(select(func.count()).select_from(model)) == 0


def test_end_before_start_names_the_rule(web, db, make_contact):
    user = sign_in(web, db)
    jane = make_contact(owner=user)

    response = _create(
        web,
        "appointment",
        jane.id,
        title="Meeting",
        starts_at="2030-01-01T10:00",
        ends_at="2030-01-01T09:59",
    )

    assert "The appointment must end after it starts." in response.get_data(
        as_text=True
    )


def test_appointment_is_dated_at_its_start_in_the_users_zone(
    app, web, db, make_contact
):
    from crm.activity.models import ActivityEvent
    from crm.tasks.models import Appointment

    app.config["DEFAULT_TIMEZONE"] = "Europe/Amsterdam"
    user = sign_in(web, db)
    jane = make_contact(owner=user)

    response = _create(
        web,
        "appointment",
        jane.id,
        title="Site visit",
        starts_at="2030-07-01T09:00",
        ends_at="2030-07-01T10:30",
        location="Keizersgracht 1",
        remind_minutes="60",
    )

    assert response.status_code == 302
    appointment = db.session.scalar(select(Appointment))
    # 09:00 in Amsterdam summer time is 07:00 UTC.
    assert appointment.starts_at == datetime(2030, 7, 1, 7, 0, tzinfo=UTC)
    assert appointment.remind_at == datetime(2030, 7, 1, 6, 0, tzinfo=UTC)
    event = db.session.scalar(select(ActivityEvent))
    assert (event.kind, event.ref_id) == ("appointment", appointment.id)
    assert event.occurred_at == appointment.starts_at
    tab = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert "2030-07-01 09:00 – 2030-07-01 10:30 · Keizersgracht 1" in tab


SCRIPTED = (
    '<p>Hello <b>Jane</b></p><script>alert("s")</script>'
    '<img src="x.png" onerror="alert(1)"><a href="javascript:alert(2)">link</a>'
    '<a href="https://example.com/">site</a>'
)


def test_note_body_is_sanitised_on_save_and_shown_inert(web, db, make_contact):
    from crm.tasks.models import Note

    user = sign_in(web, db)
    jane = make_contact(owner=user)

    response = _create(
        web, "note", jane.id, title="Call notes", note_type="call", body=SCRIPTED
    )

    assert response.status_code == 302
    body = db.session.scalar(select(Note.body))
    # No picture either: it would make every reader's browser fetch its URL.
    for active in ("<script", "alert(", "onerror", "javascript:", "<img", "x.png"):
        assert active not in body
    for kept in ("<b>Jane</b>", 'href="https://example.com/"', "link"):
        assert kept in body
    assert 'rel="noopener noreferrer"' in body
    tab = tab_section(web.get(record_url(jane.id, "tasks")).get_data(as_text=True))
    assert "<b>Jane</b>" in tab
    for active in ("alert(", "onerror", "javascript:", "<img"):
        assert active not in tab


def test_a_stored_note_picture_is_not_shown(web, db, make_contact):
    """A body stored before pictures were refused (or written around the
    service) is cleaned again on display."""
    from crm.tasks.models import Note

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    _create(web, "note", jane.id, title="Old note", note_type="call", body="<p>x</p>")
    note = db.session.scalar(select(Note))
    note.body = '<p>Seen</p><img src="/admin/contact/details/x">'
    db.session.commit()

    tab = tab_section(web.get(record_url(jane.id, "tasks")).get_data(as_text=True))
    assert "<p>Seen</p>" in tab and "<img" not in tab


def test_a_note_title_with_markup_is_escaped(web, db, make_contact):
    user = sign_in(web, db)
    jane = make_contact(owner=user)

    _create(web, "note", jane.id, title="<body onload=alert(1)>", body="")

    tab = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert "<body onload" not in tab
    assert "&lt;body onload=alert(1)&gt;" in tab


def _task(db, contact, user, **values):
    from crm.tasks import services
    from crm.tasks.models import Task

    task = Task(contact_id=contact.id, **values)
    services.save_task(task, user, is_new=True)
    db.session.commit()
    return task


def test_completing_a_task_moves_it_to_completed(web, db, make_contact):
    from crm.activity.models import ActivityEvent
    from crm.tasks.models import Task

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    task = _task(db, jane, user, title="Send quote", due_at=NOW - timedelta(days=1))

    before = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    pending = before.split('id="pending-tasks"')[1].split("</table>")[0]
    assert "Send quote" in pending and "task-overdue" in pending

    response = web.post(f"/admin/task/{task.id}/complete")

    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"?id={jane.id}&tab=tasks")
    db.session.expire_all()
    done = db.session.get(Task, task.id)
    assert done.completed and done.completed_by_id == user.id
    assert done.completed_at is not None
    kinds = db.session.scalars(select(ActivityEvent.kind).order_by(ActivityEvent.id))
    assert list(kinds) == ["task_created", "task_completed"]
    after = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert 'id="pending-tasks"' not in after
    assert "Send quote" in after.split('id="completed-tasks"')[1]

    again = web.post(f"/admin/task/{task.id}/complete", follow_redirects=True)
    assert "That task was already completed." in again.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ActivityEvent)) == 2


def test_pin_and_unpin_a_note(web, db, make_contact):
    from crm.tasks import services
    from crm.tasks.models import Note

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    note = Note(contact_id=jane.id, title="Prefers mornings", body="<p>ok</p>")
    services.save_note(note, user, is_new=True)
    db.session.commit()

    web.post(f"/admin/note/{note.id}/pin", {"pinned": "1"})
    tab = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert "Prefers mornings" in tab.split('id="pinned-notes"')[1].split("</ul>")[0]

    web.post(f"/admin/note/{note.id}/pin", {"pinned": "0"})
    tab = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert 'id="pinned-notes"' not in tab
    db.session.expire_all()
    assert db.session.get(Note, note.id).pinned is False


@pytest.fixture
def shared_world(db, make_contact, grant):  # noqa: F811
    """Jane owned by O; V may view her, E may edit her, N may do neither."""
    owner = own_only(db, quick_user(db, "o@example.com"))
    viewer = own_only(db, quick_user(db, "v@example.com"))
    editor = own_only(db, quick_user(db, "e@example.com"))
    nobody = own_only(db, quick_user(db, "n@example.com"))
    jane = make_contact(owner=owner)
    grant(jane, user=viewer, level="view")
    grant(jane, user=editor, level="edit")
    task = _task(db, jane, owner, title="Zqtask secret", assigned_to_id=owner.id)
    return {
        "jane": jane,
        "task": task,
        "viewer": viewer,
        "editor": editor,
        "nobody": nobody,
    }


@pytest.mark.parametrize(
    ("who", "sees_tab", "may_edit"),
    [("viewer", True, False), ("editor", True, True), ("nobody", False, False)],
)
def test_tab_data_and_actions_follow_the_contact(
    web, db, shared_world, who, sees_tab, may_edit
):
    from crm.tasks.models import Task

    jane, task = shared_world["jane"], shared_world["task"]
    web.login(shared_world[who].email)

    tab = web.get(record_url(jane.id, "tasks"))
    assert tab.status_code == (200 if sees_tab else 404)
    body = tab.get_data(as_text=True)
    assert ("Zqtask secret" in body) is sees_tab
    assert ('id="add-task"' in body) is may_edit
    assert ("complete-task" in body) is may_edit

    create = web.post(
        "/admin/task/new/",
        {
            "contact": str(jane.id),
            "title": "Sneaky",
            "priority": "essential",
            "task_type": "other",
        },
    )
    complete = web.post(f"/admin/task/{task.id}/complete")
    db.session.expire_all()
    titles = set(db.session.scalars(select(Task.title)))
    if may_edit:
        assert complete.status_code == 302
        assert titles == {"Zqtask secret", "Sneaky"}
        assert db.session.get(Task, task.id).completed
    else:
        assert complete.status_code == 404
        assert titles == {"Zqtask secret"}
        assert not db.session.get(Task, task.id).completed
        assert create.status_code == 200  # the form again, nothing saved


def test_create_form_presets_only_a_contact_the_user_may_edit(web, db, shared_world):
    jane = shared_world["jane"]
    web.login(shared_world["viewer"].email)

    page = web.get(f"/admin/task/new/?contact_id={jane.id}").get_data(as_text=True)

    assert jane.display_name not in page


def test_send_email_button_leads_editors_to_the_compose_screen(
    app, web, db, shared_world
):
    jane = shared_world["jane"]
    assert "mail_compose.index" in app.view_functions

    web.login(shared_world["editor"].email)
    body = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    button = body.split('id="send-email"')[0].rsplit("<a ", 1)[1]
    assert f'href="/admin/mail/compose/?contact_id={jane.id}"' in button

    web.logout()
    web.login(shared_world["viewer"].email)
    body = web.get(record_url(jane.id, "tasks")).get_data(as_text=True)
    assert 'id="send-email"' not in body


def test_editing_an_appointment_moves_it_in_the_history(web, db, make_contact):
    from crm.activity.models import ActivityEvent
    from crm.tasks.models import Appointment

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    _create(
        web,
        "appointment",
        jane.id,
        title="Visit",
        starts_at="2030-01-01T10:00",
        ends_at="2030-01-01T11:00",
    )
    appointment = db.session.scalar(select(Appointment))
    url = f"/admin/appointment/edit/?id={appointment.id}"
    data = admin_form(web.get(url).get_data(as_text=True))
    assert data["starts_at"] == "2030-01-01T10:00"

    response = web.post(
        url,
        {
            **data,
            "title": "Visit (moved)",
            "starts_at": "2030-02-01T10:00",
            "ends_at": "2030-02-01T12:00",
        },
    )

    assert response.status_code == 302
    db.session.expire_all()
    event = db.session.scalar(select(ActivityEvent))
    assert event.occurred_at == datetime(2030, 2, 1, 10, 0, tzinfo=UTC)
    assert event.subject == "Visit (moved)"


def test_deleting_a_note_removes_it_from_the_history(web, db, make_contact):
    from crm.activity.models import ActivityEvent
    from crm.tasks.models import Note

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    _create(web, "note", jane.id, title="Wrong contact", body="oops")
    note = db.session.scalar(select(Note))

    response = web.post("/admin/note/delete/", {"id": str(note.id)})

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(Note)) == 0
    assert db.session.scalar(select(func.count()).select_from(ActivityEvent)) == 0


def test_a_task_cannot_move_to_another_contact(web, db, make_contact):
    from crm.tasks.models import Task

    user = sign_in(web, db)
    jane = make_contact(owner=user)
    john = make_contact("John", "Roe", owner=user)
    task = _task(db, jane, user, title="Stay")
    url = f"/admin/task/edit/?id={task.id}"
    data = admin_form(web.get(url).get_data(as_text=True))

    response = web.post(url, {**data, "contact": str(john.id)})

    assert "A task, appointment or note stays with its contact." in (
        response.get_data(as_text=True)
    )
    db.session.expire_all()
    assert db.session.get(Task, task.id).contact_id == jane.id
