"""Screens for tasks, appointments and notes, their custom fields, My tasks and
Reminders. The record's Tasks tab is in ``record.py``."""

import logging

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_admin.helpers import get_form_data
from flask_babel import LazyString
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectChoice, SelectField, StringField, TextAreaField
from wtforms.fields import DateTimeLocalField

from crm.access import policy
from crm.contacts import services as contacts
from crm.core.admin import SecuredModelView, scope_relation_fields
from crm.core.errors import ServiceError
from crm.customfields.admin import FieldDefinitionView
from crm.extensions import db
from crm.links.record import contact_lookup
from crm.tasks import fields, forms, record, services
from crm.tasks.models import (
    NOTE_TYPES,
    PRIORITIES,
    RECORD_TYPES,
    TASK_TYPES,
    ActivityField,
    Appointment,
    Note,
    Task,
)
from crm.tasks.views import MyTasksView, RemindersView

log = logging.getLogger(__name__)

SETTINGS = _l("Settings")


def _zone_note() -> str:
    return _(
        "In %(zone)s, the time zone of the whole CRM (users have no time zone "
        "of their own).",
        zone=services.user_zone().key,
    )


#: The help under date-time fields, read per request (the zone is a setting).
ZONE_NOTE = LazyString(_zone_note)


def _choices(pairs):
    return [SelectChoice(key, label) for key, label in pairs]


def _label_of(pairs):
    return lambda v, c, m, p: dict(pairs).get(getattr(m, p), getattr(m, p))


class _ContactRecordView(SecuredModelView):
    """Shared by the three record types: contact preset, custom fields, tab return.

    The contact picker lists only contacts the user may see; the service call
    checks the user may edit the one chosen.
    """

    record_type = ""
    local_datetimes: tuple[str, ...] = ()
    column_default_sort = ("id", True)
    can_view_details = False

    def __init__(self, model, **kwargs):
        self.form_ajax_refs = {"contact": contact_lookup("contact")}
        super().__init__(model, **kwargs)

    def is_visible(self):
        return False

    # Forms ----------------------------------------------------------------
    def create_form(self, obj=None):
        form_class, defined = forms.with_custom_fields(
            self._create_form_class, self.record_type
        )
        form = form_class(get_form_data(), obj=obj)
        scope_relation_fields(form)
        if request.method == "GET":
            self._preset(form)
        form.custom_fields = defined
        return form

    def edit_form(self, obj=None):
        form_class, defined = forms.with_custom_fields(
            self._edit_form_class, self.record_type
        )
        data = forms.stored_data(defined, self.record_type, getattr(obj, "id", None))
        form = form_class(get_form_data(), obj=obj, data=data)
        scope_relation_fields(form)
        if request.method == "GET" and obj is not None:
            for name in self.local_datetimes:
                moment = getattr(obj, name)
                if moment is not None:
                    zone = services.user_zone(current_user)
                    form[name].data = moment.astimezone(zone).replace(tzinfo=None)
        form.custom_fields = defined
        return form

    def _preset(self, form):
        contact = contacts.get_visible(
            request.args.get("contact_id"), current_user, policy.EDIT
        )
        if contact is not None:
            form.contact.data = contact
        if "assigned_to" in form:
            form.assigned_to.data = current_user._get_current_object()

    # Writes ---------------------------------------------------------------
    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            contact = model.contact
            if (
                contacts.get_visible(
                    getattr(contact, "id", None), current_user, policy.EDIT
                )
                is None
            ):
                raise ServiceError(_("Choose a contact you may edit."))
            if not is_created and model.contact_id != contact.id:
                # Its history and field values belong to the first contact.
                raise ServiceError(
                    _("A task, appointment or note stays with its contact.")
                )
            model.contact_id = contact.id
            for name in self.local_datetimes:
                setattr(
                    model, name, services.from_local(getattr(model, name), current_user)
                )
            canonical = fields.check_values(
                form.custom_fields, forms.raw_values(form.custom_fields, request.form)
            )
        self.save(model, is_created)
        fields.set_values(self.record_type, model, canonical)

    def save(self, model, is_created):
        raise NotImplementedError

    def on_model_delete(self, model):
        services.forget_events(self.record_type, model.id)
        fields.forget_values(self.record_type, model.id)

    def get_save_return_url(self, model, is_created=False):
        return record.tab_url(model.contact_id)

    def _back(self, model, message, category="success"):
        flash(message, category)
        if request.form.get("back") == "my_tasks":
            return redirect(url_for("my_tasks.index"))
        return redirect(record.tab_url(model.contact_id))


class TaskView(_ContactRecordView):
    record_type = "task"
    local_datetimes = ("due_at",)
    column_list = ("contact", "title", "priority", "due_at", "assigned_to", "completed")
    column_labels = {
        "contact": _l("Contact"),
        "title": _l("Title"),
        "description": _l("Description"),
        "task_type": _l("Type"),
        "priority": _l("Priority"),
        "due_at": _l("Due"),
        "remind_minutes": _l("Reminder"),
        "assigned_to": _l("Assigned to"),
        "completed": _l("Completed"),
    }
    column_formatters = {"priority": _label_of(PRIORITIES)}
    column_searchable_list = ("title",)
    form_columns = (
        "contact",
        "title",
        "description",
        "task_type",
        "priority",
        "due_at",
        "remind_minutes",
        "assigned_to",
    )
    form_overrides = {
        "task_type": SelectField,
        "priority": SelectField,
        "remind_minutes": SelectField,
        "due_at": DateTimeLocalField,
        "description": TextAreaField,
    }
    form_args = {
        "task_type": {"choices": _choices(TASK_TYPES), "default": "other"},
        "priority": {"choices": _choices(PRIORITIES), "default": "essential"},
        "remind_minutes": {
            "choices": forms.reminder_choices,
            "validate_choice": False,
        },
        "due_at": {
            "format": forms.DATETIME_FORMAT,
            "description": ZONE_NOTE,
        },
    }

    def __init__(self):
        super().__init__(Task, name=_l("Tasks"), endpoint="task", url="/admin/task")

    def save(self, model, is_created):
        services.save_task(model, current_user, is_new=is_created)

    @expose("/<int:id>/complete", methods=("POST",))
    def complete(self, id):
        task = self.get_one(id)
        if task is None:
            abort(404)
        if services.complete_task(task, current_user):
            db.session.commit()
            return self._back(task, _("Task %(title)s completed.", title=task.title))
        return self._back(task, _("That task was already completed."), "info")


class AppointmentView(_ContactRecordView):
    record_type = "appointment"
    local_datetimes = ("starts_at", "ends_at")
    column_list = ("contact", "title", "starts_at", "ends_at", "location")
    column_labels = {
        "contact": _l("Contact"),
        "title": _l("Title"),
        "description": _l("Description"),
        "starts_at": _l("Starts"),
        "ends_at": _l("Ends"),
        "location": _l("Location"),
        "remind_minutes": _l("Reminder"),
        "assigned_to": _l("Assigned to"),
    }
    column_searchable_list = ("title",)
    form_columns = (
        "contact",
        "title",
        "description",
        "starts_at",
        "ends_at",
        "location",
        "remind_minutes",
        "assigned_to",
    )
    form_overrides = {
        "remind_minutes": SelectField,
        "starts_at": DateTimeLocalField,
        "ends_at": DateTimeLocalField,
        "description": TextAreaField,
        "location": StringField,
    }
    form_args = {
        "remind_minutes": {
            "choices": forms.reminder_choices,
            "validate_choice": False,
        },
        "starts_at": {
            "format": forms.DATETIME_FORMAT,
            "description": ZONE_NOTE,
        },
        "ends_at": {"format": forms.DATETIME_FORMAT},
    }

    def __init__(self):
        super().__init__(
            Appointment,
            name=_l("Appointments"),
            endpoint="appointment",
            url="/admin/appointment",
        )

    def save(self, model, is_created):
        services.save_appointment(model, current_user, is_new=is_created)


class NoteView(_ContactRecordView):
    record_type = "note"
    column_list = ("contact", "note_type", "title", "pinned", "created_at")
    column_labels = {
        "contact": _l("Contact"),
        "note_type": _l("Type"),
        "title": _l("Title"),
        "body": _l("Note"),
        "pinned": _l("Pinned"),
        "created_at": _l("Added"),
    }
    column_formatters = {"note_type": _label_of(NOTE_TYPES)}
    column_searchable_list = ("title",)
    form_columns = ("contact", "note_type", "title", "body", "pinned")
    form_overrides = {"note_type": SelectField, "body": TextAreaField}
    form_args = {
        "note_type": {"choices": _choices(NOTE_TYPES), "default": "other"},
        "body": {
            "description": _l(
                "Simple HTML is kept; scripts and event handlers are not."
            ),
            "render_kw": {"rows": 6},
        },
    }

    def __init__(self):
        super().__init__(Note, name=_l("Notes"), endpoint="note", url="/admin/note")

    def save(self, model, is_created):
        services.save_note(model, current_user, is_new=is_created)
        if model.pinned and model.pinned_at is None:
            services.set_pinned(model, True, current_user)

    @expose("/<int:id>/pin", methods=("POST",))
    def pin(self, id):
        note = self.get_one(id)
        if note is None:
            abort(404)
        pinned = request.form.get("pinned") == "1"
        services.set_pinned(note, pinned, current_user)
        db.session.commit()
        if pinned:
            return self._back(note, _("Note pinned."))
        return self._back(note, _("Note unpinned."))


class ActivityFieldView(FieldDefinitionView):
    """Custom fields of tasks, appointments and notes: administrators only."""

    column_list = ("record_type", "label", "field_type", "field_name", "required")
    column_labels = {
        **FieldDefinitionView.column_labels,
        "record_type": _l("Belongs to"),
    }
    column_formatters = {
        **FieldDefinitionView.column_formatters,
        "record_type": _label_of(RECORD_TYPES),
    }
    column_default_sort = [("record_type", False), ("position", False)]
    form_columns = (
        "record_type",
        "label",
        "machine_name",
        "field_type",
        "options",
        "required",
        "position",
    )
    form_overrides = {**FieldDefinitionView.form_overrides, "record_type": SelectField}
    form_args = {
        **FieldDefinitionView.form_args,
        "record_type": {"choices": _choices(RECORD_TYPES)},
    }

    def __init__(self):
        super().__init__(
            ActivityField,
            name=_l("Task & note fields"),
            endpoint="activity_field",
            category=SETTINGS,
        )

    def check(self, model, is_created):
        fields.check_definition(model)


def views():
    yield TaskView()
    yield AppointmentView()
    yield NoteView()
    yield ActivityFieldView()
    yield MyTasksView()
    yield RemindersView()
