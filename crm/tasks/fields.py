"""Custom fields of tasks, appointments and notes.

The types, validation and canonical storage are those of contact custom
fields (``crm.customfields.services.coerce_value`` and ``display_value``);
only the definitions and the values live in their own tables.
"""

import logging

from flask_babel import gettext as _
from sqlalchemy import select

from crm.core.errors import ServiceError
from crm.customfields import services as custom
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
    if field.record_type not in {key for key, _label in RECORD_TYPES}:
        raise ServiceError(_("Choose what the field belongs to."), field="record_type")
    custom.check_definition(field, name_prefix=field.record_type.title())
