"""The edit form of a custom tab, built from its field definitions.

Each field type gets the matching WTForms field so the browser shows the
right input. The form only renders and carries the raw input: every value is
validated by ``services.coerce_value``, so a message reads the same in the
form, in an import and in the API.
"""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from wtforms import (
    DateField,
    DateTimeLocalField,
    DecimalField,
    EmailField,
    Form,
    IntegerField,
    RadioField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TelField,
    TextAreaField,
    URLField,
)

from crm.auth.models import User
from crm.customfields import services
from crm.extensions import db

BLANK = SelectChoice("", "—")


def _choices(field, stored=None):
    """The options, then those the stored value names that are no longer offered."""
    choices = [SelectChoice(option) for option in field.option_list]
    for option in services.retired_options(field, stored):
        label = _("%(value)s (no longer offered)", value=option)
        choices.append(SelectChoice(option, label))
    return choices


def _users(stored=None):
    """The active users, and the stored one when it is deactivated or removed."""
    users = db.session.scalars(
        select(User).where(User.active.is_(True)).order_by(User.name, User.email)
    )
    choices = [BLANK] + [SelectChoice(str(user.id), str(user)) for user in users]
    if stored and stored not in {choice.value for choice in choices}:
        readable = stored.isascii() and stored.isdigit()
        user = db.session.get(User, int(stored)) if readable else None
        if user is not None:
            label = _("%(user)s (deactivated)", user=str(user))
        else:
            label = _("%(value)s (user removed)", value=stored)
        choices.insert(1, SelectChoice(stored, label))
    return choices


def _wtforms_field(field, stored=None):
    """The unbound WTForms field for one custom field definition.

    ``stored`` is the record's value: an option or user it names that is no
    longer offered is offered too, marked, so saving the form keeps it.
    """
    label = field.label + (" *" if field.required else "")
    kind = field.field_type
    common = {"label": label, "description": _description(field)}

    if kind == "text_area":
        return TextAreaField(**common, render_kw={"rows": 4})
    if kind == "whole_number":
        return IntegerField(**common)
    if kind in ("decimal", "currency", "percent"):
        return DecimalField(**common, places=None, render_kw={"step": "any"})
    if kind == "date":
        return DateField(**common)
    if kind == "date_time":
        return DateTimeLocalField(**common, format="%Y-%m-%dT%H:%M")
    if kind == "yes_no":
        return RadioField(
            **common,
            choices=[
                SelectChoice("1", _l("Yes")),
                SelectChoice("0", _l("No")),
                SelectChoice("", _l("Not set")),
            ],
            validate_choice=False,
        )
    if kind == "dropdown":
        return SelectField(
            **common, choices=[BLANK] + _choices(field, stored), validate_choice=False
        )
    if kind == "radio":
        return RadioField(
            **common, choices=_choices(field, stored), validate_choice=False
        )
    if kind == "list_box":
        return SelectMultipleField(
            **common, choices=_choices(field, stored), validate_choice=False
        )
    if kind == "email":
        return EmailField(**common)
    if kind == "phone":
        return TelField(**common)
    if kind == "website":
        return URLField(**common)
    if kind == "user":
        return SelectField(**common, choices=_users(stored), validate_choice=False)
    if kind == "year":
        return IntegerField(**common, render_kw={"min": 1000, "max": 9999})
    if kind == "month":
        months = [SelectChoice(str(n), services.month_name(n)) for n in range(1, 13)]
        return SelectField(**common, choices=[BLANK] + months, validate_choice=False)
    if kind == "day_of_week":
        days = [
            SelectChoice(day, services.day_name(i))
            for i, day in enumerate(services.DAYS)
        ]
        return SelectField(**common, choices=[BLANK] + days, validate_choice=False)
    if kind == "state":
        return StringField(**common, render_kw={"placeholder": "US-CA"})
    return StringField(**common, render_kw={"maxlength": services.TEXT_LIMIT})


def _description(field):
    if field.field_type == "date_time":
        return _l("Time in UTC.")
    if field.field_type == "state":
        return _l("A state or province code, such as US-CA or DE-BY.")
    return ""


def form_key(field) -> str:
    return f"field_{field.id}"


def build_form(fields, stored: dict[int, str], formdata=None) -> Form:
    """A form with one input per field, from ``formdata`` or the stored values."""

    class CustomTabForm(Form):
        pass

    for field in fields:
        setattr(
            CustomTabForm, form_key(field), _wtforms_field(field, stored.get(field.id))
        )

    if formdata is not None:
        # Re-showing a post: what was sent, and nothing stored for what was not.
        return CustomTabForm(formdata=formdata)
    data = {form_key(f): services.form_value(f, stored.get(f.id)) for f in fields}
    return CustomTabForm(data=data)


def raw_input(field, formdata):
    """What the user typed or chose for ``field`` (a list for list boxes)."""
    if field.field_type == "list_box":
        return formdata.getlist(form_key(field))
    return formdata.get(form_key(field))
