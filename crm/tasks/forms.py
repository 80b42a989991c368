"""Form pieces of the task, appointment and note screens.

The custom fields of each record type are added to the Flask-Admin form class
per request (definitions change while the app runs), with the inputs of
contact custom fields (``crm.customfields.forms``).
"""

from flask_babel import lazy_gettext as _l
from flask_babel import lazy_ngettext
from wtforms import SelectChoice

from crm.customfields import forms as custom_forms
from crm.customfields import services as custom
from crm.tasks import fields
from crm.tasks.models import REMINDER_MINUTES

DATETIME_FORMAT = "%Y-%m-%dT%H:%M"


def reminder_choices():
    """ "No reminder" and the offered lead times, labelled in minutes, hours or days."""
    choices = [SelectChoice("", _l("No reminder"))]
    for minutes in REMINDER_MINUTES:
        if minutes < 60:
            label = lazy_ngettext(
                "%(num)s minute before", "%(num)s minutes before", minutes
            )
        elif minutes < 1440:
            label = lazy_ngettext(
                "%(num)s hour before", "%(num)s hours before", minutes // 60
            )
        else:
            label = lazy_ngettext(
                "%(num)s day before", "%(num)s days before", minutes // 1440
            )
        choices.append(SelectChoice(str(minutes), label))
    return choices


def with_custom_fields(form_class, record_type: str):
    """A subclass of ``form_class`` with one input per custom field of the type."""
    defined = fields.fields_for(record_type)
    if not defined:
        return form_class, []
    extended = type(form_class.__name__, (form_class,), {})
    for field in defined:
        setattr(
            extended, custom_forms.form_key(field), custom_forms._wtforms_field(field)
        )
    return extended, defined


def stored_data(defined, record_type: str, record_id) -> dict:
    """The stored custom values of a record in the shape its form fields expect."""
    stored = fields.values_of(record_type, record_id)
    return {
        custom_forms.form_key(f): custom.form_value(f, stored.get(f.id))
        for f in defined
    }


def raw_values(defined, formdata) -> dict:
    """What was typed for each custom field, by field id."""
    return {f.id: custom_forms.raw_input(f, formdata) for f in defined}
