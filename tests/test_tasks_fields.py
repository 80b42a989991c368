"""Custom fields of tasks, appointments and notes: defined by admins, on the forms."""

import pytest
from sqlalchemy import func, select

from tests.record_helpers import sign_in
from tests.test_tasks_screens import admin_form


def _define(web, **values):
    data = {
        "record_type": "task",
        "label": "Call outcome",
        "machine_name": "",
        "field_type": "dropdown",
        "options": "Reached\r\nVoicemail",
        "position": "0",
    }
    data.update(values)
    return web.post("/admin/activity_field/new/", data)


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"label": "  "}, "A custom field needs a label."),
        ({"options": ""}, "A drop-down field needs its options, one a line."),
        ({"options": "A\nA"}, "Each option can be listed once."),
        (
            {"machine_name": "9 bad"},
            "A field name uses letters, digits and underscores",
        ),
    ],
)
def test_bad_definitions_are_refused(web, db, values, message):
    from crm.tasks.models import ActivityField

    sign_in(web, db, "boss@example.com", is_admin=True)

    response = _define(web, **values)

    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(ActivityField)) == 0


def test_only_administrators_define_fields(web, db):
    sign_in(web, db, "plain@example.com")

    assert web.get("/admin/activity_field/").status_code == 403
    assert _define(web).status_code == 403


def test_a_task_field_is_validated_stored_and_shown_again(web, db, make_contact):
    from crm.tasks.models import ActivityField, ActivityFieldValue, Task

    sign_in(web, db, "boss@example.com", is_admin=True)
    assert _define(web, required="y").status_code == 302
    field = db.session.scalar(select(ActivityField))
    assert field.field_name == "TaskCallOutcome"
    jane = make_contact()
    url = f"/admin/task/new/?contact_id={jane.id}"

    page = web.get(url).get_data(as_text=True)
    assert "Call outcome *" in page
    data = admin_form(page)
    data.update(title="Ring Jane")

    for raw, message in (
        (
            "Nope",
            "Call outcome: “Nope” is not one of the options (Reached, Voicemail).",
        ),
        ("", "Call outcome: this field is required."),
    ):
        refused = web.post(url, {**data, f"field_{field.id}": raw})
        assert refused.status_code == 200
        assert message in refused.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(Task)) == 0

    saved = web.post(url, {**data, f"field_{field.id}": "Voicemail"})
    assert saved.status_code == 302
    task = db.session.scalar(select(Task))
    value = db.session.scalar(select(ActivityFieldValue))
    assert (value.record_type, value.record_id, value.contact_id, value.value) == (
        "task",
        task.id,
        jane.id,
        "Voicemail",
    )

    edit = web.get(f"/admin/task/edit/?id={task.id}").get_data(as_text=True)
    assert admin_form(edit)[f"field_{field.id}"] == "Voicemail"
    note_form = web.get(f"/admin/note/new/?contact_id={jane.id}").get_data(as_text=True)
    assert "Call outcome" not in note_form


def test_note_field_values_show_in_the_history(web, db, make_contact):
    from crm.tasks.models import ActivityField

    sign_in(web, db, "boss@example.com", is_admin=True)
    _define(web, record_type="note", label="Mood", field_type="text", options="")
    field = db.session.scalar(select(ActivityField))
    jane = make_contact()
    url = f"/admin/note/new/?contact_id={jane.id}"
    data = admin_form(web.get(url).get_data(as_text=True))

    web.post(url, {**data, "title": "Chat", f"field_{field.id}": "<i>cheerful</i>"})

    tab = web.get(f"/admin/contact/details/?id={jane.id}&tab=tasks")
    assert "Mood: &lt;i&gt;cheerful&lt;/i&gt;" in tab.get_data(as_text=True)
