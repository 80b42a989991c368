"""Form fields for the opportunity custom fields, one per definition."""

from flask_babel import lazy_gettext as _l
from wtforms import SelectField, SelectMultipleField, StringField, TextAreaField

PREFIX = "cf_"


def custom_field(definition):
    """A form field for one opportunity custom field (values checked on save)."""
    kind = definition.field_type
    label = definition.label
    if kind == "text_area":
        return TextAreaField(label)
    if kind == "yes_no":
        return SelectField(label, choices=[("", ""), ("1", _l("Yes")), ("0", _l("No"))])
    if kind in ("dropdown", "radio"):
        options = [("", "")] + [(o, o) for o in definition.option_list]
        return SelectField(label, choices=options)
    if kind == "list_box":
        options = [(o, o) for o in definition.option_list]
        return SelectMultipleField(label, choices=options)
    return StringField(label)


def with_custom_fields(form_class, definitions):
    """A subclass of ``form_class`` with one field per custom field definition."""
    if not definitions:
        return form_class
    extra = {f"{PREFIX}{d.id}": custom_field(d) for d in definitions}
    return type(form_class.__name__, (form_class,), extra)
