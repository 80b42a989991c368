"""Form fields for the permission table (per user and global defaults)."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, SelectChoice, SelectField

from crm.access.models import AREAS, PERMISSION_COLUMNS

SCOPE_CHOICES = [SelectChoice("own", _l("Only own")), SelectChoice("all", _l("All"))]


def field_name(area: str, key: str) -> str:
    return f"perm_{area}_{key}"


def field_names() -> list[str]:
    return [field_name(a.key, c[0]) for a in AREAS for c in PERMISSION_COLUMNS]


def add_permission_fields(form_class):
    """Add one checkbox or all/own select per area and permission to a form class."""
    for area in AREAS:
        for key, label, kind in PERMISSION_COLUMNS:
            if kind == "scope":
                field = SelectField(label, choices=SCOPE_CHOICES, default="all")
            else:
                field = BooleanField(label)
            setattr(form_class, field_name(area.key, key), field)
    return form_class


def read_permissions(form) -> dict[str, dict]:
    """The submitted permissions, area by area."""
    return {
        area.key: {
            key: form[field_name(area.key, key)].data
            for key, _label, _kind in PERMISSION_COLUMNS
        }
        for area in AREAS
    }


def fill_permissions(form, values: dict[str, dict]) -> None:
    """Show stored permissions in the form's fields."""
    for area in AREAS:
        for key, _label, _kind in PERMISSION_COLUMNS:
            form[field_name(area.key, key)].data = values[area.key][key]


@add_permission_fields
class DefaultPermissionsForm(FlaskForm):
    """The global defaults applied to new users."""


def table_rows():
    """Areas and columns of the permission table, for the template."""
    return AREAS, PERMISSION_COLUMNS
