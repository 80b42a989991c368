"""The contact record's "Tasks & history" tab.

Pending and completed tasks, pinned notes, and one dated history of notes,
appointments, e-mails and web-form submissions, newest first, one page at a
time. Every event reads through its kind's ``describe`` when the recording
domain gave one, so e-mail opens and clicks show without this module knowing
the mail domain.
"""

from flask import current_app, render_template, request, url_for
from flask_login import current_user
from markupsafe import Markup

from crm.access import policy
from crm.activity import kinds
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.tasks import fields, services
from crm.tasks.models import NOTE_TYPES, PRIORITIES, TASK_TYPES, Appointment, Note

TAB = "tasks"
MAIL_COMPOSE = "mail_compose.index"


def tab_url(contact_id: int, **args) -> str:
    return url_for("contact.details_view", id=contact_id, tab=TAB, **args)


def _page() -> int:
    try:
        return max(int(request.args.get("page", 1)), 1)
    except (TypeError, ValueError):
        return 1


def safe_body(html: str | None) -> Markup:
    """A note body for display: sanitised again, whatever the stored text holds."""
    return Markup(services.clean_note_html(html))


def _describe(event) -> dict:
    kind = kinds.get(event.kind)
    detail = None
    if kind is not None and kind.describe is not None:
        detail = kind.describe(event)
    return {
        "label": kind.label if kind is not None else event.kind,
        "detail": detail,
    }


@tabs.renderer(TAB)
def render_tasks_tab(contact, tab_key):
    """Tasks, pinned notes and one page of the dated history of the contact."""
    can_edit = contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    page = _page()
    size = current_app.config.get("TASKS_HISTORY_PAGE_SIZE", services.HISTORY_PAGE_SIZE)
    events, has_next = services.history_page(contact.id, page, size)
    notes = services.refs_of(events, Note, "note")
    appointments = services.refs_of(events, Appointment, "appointment")

    compose_url = None
    if can_edit and MAIL_COMPOSE in current_app.view_functions:
        compose_url = url_for(MAIL_COMPOSE, contact_id=contact.id)
    back = tab_url(contact.id)
    return Markup(
        render_template(
            "tasks/tab.html",
            contact=contact,
            can_edit=can_edit,
            pending=services.tasks_of(contact.id, completed=False),
            completed=services.tasks_of(contact.id, completed=True),
            pinned=services.pinned_notes(contact.id),
            history=[
                (
                    event,
                    _describe(event),
                    notes.get(event.ref_id) if event.ref_type == "note" else None,
                    appointments.get(event.ref_id)
                    if event.ref_type == "appointment"
                    else None,
                )
                for event in events
            ],
            page=page,
            newer_url=tab_url(contact.id, page=page - 1) if page > 1 else None,
            older_url=tab_url(contact.id, page=page + 1) if has_next else None,
            compose_url=compose_url,
            add_task_url=url_for("task.create_view", contact_id=contact.id, url=back),
            add_appointment_url=url_for(
                "appointment.create_view", contact_id=contact.id, url=back
            ),
            add_note_url=url_for("note.create_view", contact_id=contact.id, url=back),
            is_overdue=services.is_overdue,
            local=lambda moment: services.local(moment, current_user),
            safe_body=safe_body,
            subject_of=kinds.subject_of,
            note_values=fields.displayed_many("note", list(notes)),
            task_types=dict(TASK_TYPES),
            priorities=dict(PRIORITIES),
            note_types=dict(NOTE_TYPES),
        )
    )
