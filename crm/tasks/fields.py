"""Custom fields of tasks, appointments and notes.

The types, validation and canonical storage are those of contact custom
fields (``crm.customfields.services.coerce_value`` and ``display_value``);
only the definitions and the values live in their own tables.
"""

import logging
import re

from flask_babel import gettext as _
from sqlalchemy import select

from crm.core.errors import ServiceError
from crm.core.text import clean, fold
from crm.customfields import services as custom
from crm.customfields.models import FIELD_TYPES, OPTION_TYPES
from crm.extensions import db
from crm.tasks.models import RECORD_TYPES, ActivityField, ActivityFieldValue

log = logging.getLogger(__name__)


def fields_for(record_type: str) -> list[ActivityField]:
    """The fields defined for one record type, in their order."""
    query = (
        select(ActivityField)
        .where(ActivityField.record_type == record_type)
        .order_by(ActivityField.position, ActivityField.id)
    )
    return list(db.session.scalars(query))


def values_of(record_type: str, record_id: int | None) -> dict[int, str]:
    """The stored values of one record, by field id."""
    if record_id is None:
        return {}
    query = select(ActivityFieldValue).where(
        ActivityFieldValue.record_type == record_type,
        ActivityFieldValue.record_id == record_id,
    )
    return {row.field_id: row.value for row in db.session.scalars(query)}


def check_values(fields, raw: dict) -> dict[ActivityField, str | None]:
    """The canonical value of every field; raises ServiceError on the first bad one."""
    return {field: custom.coerce_value(field, raw.get(field.id)) for field in fields}


def set_values(record_type: str, record, canonical: dict) -> None:
    """Store the checked values on ``record`` (flushed); empty values remove rows."""
    query = select(ActivityFieldValue).where(
        ActivityFieldValue.record_type == record_type,
        ActivityFieldValue.record_id == record.id,
    )
    existing = {row.field_id: row for row in db.session.scalars(query)}
    for field, text in canonical.items():
        row = existing.get(field.id)
        if text is None:
            if row is not None:
                db.session.delete(row)
        elif row is None:
            db.session.add(
                ActivityFieldValue(
                    field_id=field.id,
                    contact_id=record.contact_id,
                    record_type=record_type,
                    record_id=record.id,
                    value=text,
                )
            )
        else:
            row.value = text
    db.session.flush()


def forget_values(record_type: str, record_id: int) -> None:
    """Remove the values of a deleted record."""
    db.session.execute(
        ActivityFieldValue.__table__.delete().where(
            ActivityFieldValue.record_type == record_type,
            ActivityFieldValue.record_id == record_id,
        )
    )


def displayed_many(record_type: str, record_ids) -> dict[int, list]:
    """(field, shown text) of each record that has values, by record id.

    Two queries whatever the number of records (a history page of notes).
    """
    ids = [i for i in record_ids if i is not None]
    if not ids:
        return {}
    defined = fields_for(record_type)
    if not defined:
        return {}
    query = select(ActivityFieldValue).where(
        ActivityFieldValue.record_type == record_type,
        ActivityFieldValue.record_id.in_(ids),
    )
    stored: dict[int, dict[int, str]] = {}
    for row in db.session.scalars(query):
        stored.setdefault(row.record_id, {})[row.field_id] = row.value
    return {
        record_id: [
            (field, custom.display_value(field, values[field.id]))
            for field in defined
            if field.id in values
        ]
        for record_id, values in stored.items()
    }


def check_definition(field: ActivityField) -> None:
    """Validate a field definition before it is saved; raises ServiceError."""
    field.label = clean(field.label)
    if not field.label:
        raise ServiceError(_("A custom field needs a label."), field="label")
    if field.record_type not in {key for key, _label in RECORD_TYPES}:
        raise ServiceError(_("Choose what the field belongs to."), field="record_type")
    if field.field_type not in {key for key, _label in FIELD_TYPES}:
        raise ServiceError(_("Choose a field type."), field="field_type")

    options = [clean(line) for line in (field.options or "").splitlines()]
    options = [option for option in options if option]
    if field.field_type in OPTION_TYPES:
        if not options:
            raise ServiceError(
                _(
                    "A %(type)s field needs its options, one a line.",
                    type=dict(FIELD_TYPES)[field.field_type].lower(),
                ),
                field="options",
            )
        folded = [fold(option) for option in options]
        if len(set(folded)) != len(folded):
            raise ServiceError(_("Each option can be listed once."), field="options")
    field.options = "\n".join(options) or None

    field.field_name = clean(field.field_name) or _derived_name(field)
    if not re.fullmatch(r"_?[A-Za-z][A-Za-z0-9_]*", field.field_name):
        raise ServiceError(
            _(
                "A field name uses letters, digits and underscores, starting with a "
                "letter."
            ),
            field="field_name",
        )
    clash = db.session.scalar(
        select(ActivityField.id).where(
            ActivityField.field_name == field.field_name,
            ActivityField.id != (field.id or 0),
        )
    )
    if clash is not None:
        raise ServiceError(
            _("Another field already uses the name %(name)s.", name=field.field_name),
            field="field_name",
        )


def _derived_name(field: ActivityField) -> str:
    words = re.findall(r"[A-Za-z0-9]+", custom._ascii(field.label))
    base = field.record_type.title() + "".join(w[:1].upper() + w[1:] for w in words)
    taken = set(
        db.session.scalars(
            select(ActivityField.field_name).where(
                ActivityField.field_name.like(f"{base}%"),
                ActivityField.id != (field.id or 0),
            )
        )
    )
    name, number = base[:90], 1
    while name in taken:
        number += 1
        name = f"{base[:90]}{number}"
    return name
