"""The bulk path: many contacts in a few statements.

The importer, the demo loader and the benchmark database builder all write
through ``insert_contacts``; it computes the same derived columns as
``services.prepare`` does for one contact, without building ORM objects.
The caller owns the transaction.
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter

from sqlalchemy import insert, select

from crm.contacts.models import (
    Company,
    Contact,
    ContactAddress,
    ContactEmail,
    ContactPhone,
    SocialAccount,
)
from crm.contacts.services import company_ids as existing_company_ids
from crm.contacts.services import company_key, search_text_of
from crm.core.db import utcnow
from crm.core.text import clean, fold, normalize_email, phone_to_e164
from crm.customfields.models import CustomValue
from crm.extensions import db
from crm.tags.models import ContactTag, Tag

log = logging.getLogger(__name__)

# SQLite's default limit on bound parameters in one statement (since 3.32).
SQLITE_MAX_VARIABLES = 32766

NAME_FIELDS = (
    "prefix",
    "given_name",
    "middle_name",
    "family_name",
    "suffix",
    "preferred_name",
)


@dataclass
class ContactData:
    """One contact as plain values, already validated by the caller."""

    fields: dict = field(default_factory=dict)  # Contact column -> value
    company: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[dict] = field(default_factory=list)  # number, type, extension
    faxes: list[dict] = field(default_factory=list)  # number, type
    addresses: dict[str, dict] = field(default_factory=dict)  # kind -> columns
    social: list[dict] = field(default_factory=list)  # type, name
    tags: list[str] = field(default_factory=list)
    custom: dict[int, str] = field(default_factory=dict)  # field id -> stored text
    # The source says the contact opted out of e-mail (applied by the caller).
    email_opt_out: bool = False


class _PhoneCache(dict):
    """E.164 forms by raw text; the same number often repeats in a file."""

    def __init__(self, region):
        super().__init__()
        self.region = region

    def __missing__(self, raw):
        value = self[raw] = phone_to_e164(raw, self.region)
        return value


def company_ids(names) -> dict[str, int]:
    """Ids of the named companies by ``company_key``, creating the missing ones.

    Names are matched as everywhere else (``services.company_ids``); a new
    company takes the first spelling the rows give it.
    """
    wanted: dict[str, str] = {}
    for name in names:
        text = clean(name)
        if text:
            wanted.setdefault(company_key(text), text)
    if not wanted:
        return {}
    found = existing_company_ids(wanted.values())
    missing = sorted(wanted[key] for key in wanted.keys() - found.keys())
    if missing:
        # One batched INSERT and one SELECT: SQLite would send an INSERT with
        # RETURNING once per row.
        now = utcnow()
        table = Company.__table__
        _insert_rows(table, [{"name": n, "created_at": now} for n in missing])
        query = select(Company.name, Company.id).where(Company.name.in_(missing))
        found.update(
            {
                company_key(name): company_id
                for name, company_id in db.session.execute(query)
            }
        )
    return found


def tag_ids(names) -> dict[str, int]:
    """Ids of the named tags by folded name, creating missing tags without category."""
    wanted = {}
    for name in names:
        text = clean(name)
        if text:
            wanted.setdefault(fold(text), text)
    if not wanted:
        return {}
    found = {
        fold(n): i
        for n, i in db.session.execute(select(Tag.name, Tag.id))
        if fold(n) in wanted
    }
    missing = [wanted[k] for k in wanted if k not in found]
    if missing:
        now = utcnow()
        rows = db.session.execute(
            insert(Tag).returning(Tag.name, Tag.id, sort_by_parameter_order=True),
            [{"name": n, "created_at": now} for n in missing],
        )
        found.update({fold(n): i for n, i in rows})
    return found


def insert_contacts(
    rows: list[ContactData],
    *,
    owner_id=None,
    actor_id=None,
    source_type="IMPORT",
    region="US",
    created_at: datetime | None = None,
) -> list[int]:
    """Insert the contacts and their children; return the new ids in order."""
    if not rows:
        return []
    now = created_at or utcnow()
    phones_e164 = _PhoneCache(region)
    companies = company_ids(r.company for r in rows)
    tags = tag_ids(t for r in rows for t in r.tags)

    contact_rows = []
    for row in rows:
        values = dict(row.fields)
        company = clean(row.company)
        billing = row.addresses.get("billing") or {}
        phone_texts = [p["number"] for p in row.phones + row.faxes]
        values.update(
            version=1,
            company_id=companies.get(company_key(company)) if company else None,
            owner_id=values.get("owner_id", owner_id),
            source_type=source_type,
            created_at=values.get("created_at") or now,
            updated_at=now,
            created_by_id=actor_id,
            updated_by_id=actor_id,
            primary_email=row.emails[0] if row.emails else None,
            primary_phone=row.phones[0]["number"] if row.phones else None,
            country_code=billing.get("country_code"),
            search_text=search_text_of(
                [values.get(f) for f in NAME_FIELDS],
                company,
                row.emails,
                phone_texts,
                [phones_e164[p] for p in phone_texts],
            ),
        )
        contact_rows.append(values)

    ids = _insert_with_ids(Contact.__table__, _uniform(Contact.__table__, contact_rows))
    _insert_children(ids, rows, tags, phones_e164, actor_id, now)
    log.info("bulk insert: %d contacts", len(ids))
    return ids


def _insert_with_ids(table, rows: list[dict]) -> list[int]:
    """Insert the rows and return their new ids in the rows' order."""
    if db.session.get_bind().dialect.name != "sqlite":
        result = db.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True), rows
        )
        return [r[0] for r in result]

    # SQLite cannot return ids in parameter order from a batched statement,
    # so SQLAlchemy would send one statement per row. Instead the first row
    # takes the write lock and the next free id, and the others get the ids
    # that follow it: nobody else can insert until this transaction ends.
    first = db.session.execute(
        insert(table).returning(table.c.id), rows[:1]
    ).scalar_one()
    ids = list(range(first, first + len(rows)))
    rest = [{**row, "id": i} for i, row in zip(ids[1:], rows[1:], strict=True)]

    # Many rows per statement, not one statement per row: the full-text
    # index flushes its pending terms at the end of every statement, which
    # makes row-by-row inserts about three times slower.
    if rest:
        _insert_multirow(table, rest)
    return ids


def _insert_multirow(table, rows: list[dict]) -> None:
    """Insert uniform rows on SQLite with multi-row VALUES statements."""
    connection = db.session.connection()
    head, keys, processors = _driver_insert(table, rows[0], connection.dialect)
    group = "(" + ", ".join("?" * len(keys)) + ")"
    per_statement = max(1, min(500, SQLITE_MAX_VARIABLES // len(keys)))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params = [
            v for values in _driver_values(chunk, keys, processors) for v in values
        ]
        connection.exec_driver_sql(
            head + ", ".join([group] * len(chunk)), tuple(params)
        )


def _insert_rows(table, rows: list[dict]) -> None:
    """Insert uniform rows in one batched statement."""
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        db.session.execute(insert(table), rows)
        return
    head, keys, processors = _driver_insert(table, rows[0], connection.dialect)
    group = "(" + ", ".join("?" * len(keys)) + ")"
    connection.exec_driver_sql(head + group, _driver_values(rows, keys, processors))


def _driver_insert(table, sample: dict, dialect):
    """The INSERT head, the column keys and their bind processors.

    Building the statement text ourselves and running each column type's own
    bind processing keeps SQLAlchemy's per-row work (a few microseconds a row)
    out of the bulk path; the stored values are the same.
    """
    preparer = dialect.identifier_preparer
    keys = list(sample)
    processors = [table.c[k].type.bind_processor(dialect) for k in keys]
    head = "INSERT INTO {} ({}) VALUES ".format(
        preparer.format_table(table), ", ".join(preparer.quote(k) for k in keys)
    )
    return head, keys, processors


def _driver_values(rows, keys, processors) -> list[tuple]:
    """The rows as tuples in ``keys`` order, bind-processed where a type needs it.

    A column's last value and its processed form are kept: the rows of one
    batch share the same timestamp object, which is processed once instead
    of once a row.
    """
    getter = itemgetter(*keys)
    processed = [[i, fn, None, None] for i, fn in enumerate(processors) if fn]
    out = []
    for row in rows:
        values = getter(row)
        if len(keys) == 1:
            values = (values,)
        if processed:
            values = list(values)
            for last in processed:
                value = values[last[0]]
                if value is None:
                    continue
                if value is not last[2]:
                    last[2], last[3] = value, last[1](value)
                values[last[0]] = last[3]
            values = tuple(values)
        out.append(values)
    return out


def _insert_children(ids, rows, tags, phones_e164, actor_id, now) -> None:
    emails, phones, addresses, social, tag_links, custom = [], [], [], [], [], []
    tag_of: dict[str, int | None] = {}
    for contact_id, row in zip(ids, rows, strict=True):
        for slot, address in enumerate(row.emails, start=1):
            emails.append(
                {
                    "contact_id": contact_id,
                    "slot": slot,
                    "address": address,
                    "normalized": normalize_email(address),
                }
            )
        for kind, numbers in (("phone", row.phones), ("fax", row.faxes)):
            for slot, phone in enumerate(numbers, start=1):
                phones.append(
                    {
                        "contact_id": contact_id,
                        "kind": kind,
                        "slot": slot,
                        "number": phone["number"],
                        "e164": phones_e164[phone["number"]],
                        "extension": phone.get("extension"),
                        "type": phone.get("type"),
                    }
                )
        for kind, values in row.addresses.items():
            addresses.append({"contact_id": contact_id, "kind": kind, **values})
        for account in row.social:
            social.append({"contact_id": contact_id, **account})
        seen = set()
        for name in row.tags:
            tag_id = tag_of.get(name)
            if tag_id is None:
                tag_id = tag_of[name] = tags.get(fold(clean(name) or ""))
            if tag_id and tag_id not in seen:
                seen.add(tag_id)
                tag_links.append(
                    {
                        "contact_id": contact_id,
                        "tag_id": tag_id,
                        "applied_at": now,
                        "applied_by_id": actor_id,
                    }
                )
        for field_id, value in row.custom.items():
            custom.append(
                {"contact_id": contact_id, "field_id": field_id, "value": value}
            )

    for model, values in (
        (ContactEmail, emails),
        (ContactPhone, phones),
        (ContactAddress, addresses),
        (SocialAccount, social),
        (ContactTag, tag_links),
        (CustomValue, custom),
    ):
        if values:
            _insert_rows(model.__table__, _uniform(model.__table__, values))

    if tag_links:
        # Core inserts pass no ORM hook: record "tag applied" in one batch here.
        from crm.scoring.tag_events import applied_in_bulk

        applied_in_bulk(tag_links)


def _uniform(table, rows: list[dict]) -> list[dict]:
    """Give every row the same keys, so the driver runs one batched statement.

    Rows with different key sets would be sent as many small statements. A
    missing key gets the column's scalar default, else NULL: what the insert
    would have stored without the key.
    """
    keys = set().union(*rows)
    filler = {}
    for key in keys:
        default = table.c[key].default
        if default is None:
            filler[key] = None
        elif default.is_callable:
            filler[key] = default.arg(None)
        else:
            filler[key] = default.arg
    return [row if len(row) == len(keys) else {**filler, **row} for row in rows]
