"""Links between contacts: the rules of linking and unlinking.

A link joins two different contacts with a link type. Each contact may take
part in at most ``link_type.max_links`` links of one type, counting the links
it starts and the links that point at it, and the same two contacts are
linked at most once per type, whichever side the link was made from.
"""

import logging

from flask_babel import gettext as _
from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from crm.access import policy
from crm.contacts.models import Contact
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import clean
from crm.extensions import db
from crm.links.models import ContactLink, LinkType

log = logging.getLogger(__name__)

NAME_LIMIT = 100


def _involving(contact_id: int, link_type_id: int | None = None):
    clause = or_(
        ContactLink.contact1_id == contact_id, ContactLink.contact2_id == contact_id
    )
    if link_type_id is not None:
        clause = and_(clause, ContactLink.link_type_id == link_type_id)
    return clause


def count_links(contact_id: int, link_type_id: int) -> int:
    """How many links of the type the contact has, in both directions."""
    return db.session.scalar(
        select(func.count(ContactLink.id)).where(_involving(contact_id, link_type_id))
    )


def find_link(contact_a, contact_b, link_type) -> ContactLink | None:
    """The link of that type between the two contacts, either way round."""
    a, b = contact_a.id, contact_b.id
    return db.session.scalar(
        select(ContactLink).where(
            ContactLink.link_type_id == link_type.id,
            or_(
                and_(ContactLink.contact1_id == a, ContactLink.contact2_id == b),
                and_(ContactLink.contact1_id == b, ContactLink.contact2_id == a),
            ),
        )
    )


def link(contact_a, contact_b, link_type, actor=None) -> ContactLink:
    """Link ``contact_a`` to ``contact_b`` with ``link_type``; the caller commits.

    Raises ServiceError when the contacts are the same, already linked with
    that type, or when either already has ``max_links`` links of the type.
    """
    if contact_a is None or contact_b is None or link_type is None:
        raise ServiceError(_("Choose a link type and a contact to link."))
    if contact_a.id is None or contact_b.id is None:
        db.session.flush()
    if contact_a.id == contact_b.id:
        raise ServiceError(_("A contact cannot be linked to itself."))

    # Serialise concurrent links of the same contacts (PostgreSQL; SQLite has
    # one writer at a time anyway) so two requests cannot both pass the limit.
    db.session.execute(
        select(Contact.id)
        .where(Contact.id.in_((contact_a.id, contact_b.id)))
        .with_for_update()
    )
    if find_link(contact_a, contact_b, link_type) is not None:
        raise ServiceError(
            _(
                "%(a)s and %(b)s are already linked as %(type)s.",
                a=contact_a,
                b=contact_b,
                type=link_type.name,
            )
        )
    for contact in (contact_a, contact_b):
        if count_links(contact.id, link_type.id) >= link_type.max_links:
            raise ServiceError(
                _(
                    "%(contact)s already has the most %(type)s links allowed "
                    "(%(max)s).",
                    contact=contact,
                    type=link_type.name,
                    max=link_type.max_links,
                )
            )

    row = ContactLink(
        contact1_id=contact_a.id,
        contact2_id=contact_b.id,
        link_type_id=link_type.id,
        created_at=utcnow(),
        created_by_id=getattr(actor, "id", None),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        raise ServiceError(
            _(
                "%(a)s and %(b)s are already linked as %(type)s.",
                a=contact_a,
                b=contact_b,
                type=link_type.name,
            )
        ) from None
    log.info(
        "contacts %s and %s linked as %r by %s",
        contact_a.id,
        contact_b.id,
        link_type.name,
        getattr(actor, "email", None),
    )
    return row


def unlink(link_row: ContactLink, actor=None) -> None:
    """Remove a link (seen from either side); the caller commits."""
    log.info(
        "link %s (%s <-> %s, %r) removed by %s",
        link_row.id,
        link_row.contact1_id,
        link_row.contact2_id,
        link_row.link_type.name if link_row.link_type else None,
        getattr(actor, "email", None),
    )
    contacts = (link_row.contact1, link_row.contact2)
    db.session.delete(link_row)
    db.session.flush()
    for contact in contacts:
        # Loaded link collections would still hold the deleted row.
        db.session.expire(contact, ["links_out", "links_in"])


def links_of(contact) -> list[ContactLink]:
    """The contact's links in both directions, by type name then age."""
    query = (
        select(ContactLink)
        .join(ContactLink.link_type)
        .where(_involving(contact.id))
        .options(joinedload(ContactLink.contact1), joinedload(ContactLink.contact2))
        .order_by(LinkType.name, ContactLink.created_at, ContactLink.id)
    )
    return list(db.session.scalars(query).unique())


def get_link(link_id, contact, user, action=policy.EDIT) -> ContactLink | None:
    """A link of ``contact`` that ``user`` may act on, by id, or None."""
    try:
        link_id = int(link_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        select(ContactLink).where(
            ContactLink.id == link_id,
            _involving(contact.id),
            policy.scope(ContactLink, user, action),
        )
    )


def check_type(link_type: LinkType) -> None:
    """Validate a link type definition before it is saved; raises ServiceError."""
    link_type.name = clean(link_type.name)
    if not link_type.name:
        raise ServiceError(_("A link type needs a name."), field="name")
    if len(link_type.name) > NAME_LIMIT:
        raise ServiceError(
            _("A link type name has at most %(limit)s characters.", limit=NAME_LIMIT),
            field="name",
        )
    if link_type.max_links is None or link_type.max_links < 1:
        raise ServiceError(
            _("The maximum number of links must be 1 or more."), field="max_links"
        )
    clash = db.session.scalar(
        select(LinkType.id).where(
            func.lower(LinkType.name) == link_type.name.lower(),
            LinkType.id != (link_type.id or 0),
        )
    )
    if clash is not None:
        raise ServiceError(
            _("A link type named %(name)s already exists.", name=link_type.name),
            field="name",
        )
    if link_type.id is not None:
        _check_lowered_limit(link_type)


def _check_lowered_limit(link_type: LinkType) -> None:
    """Refuse a lower maximum that contacts linked today already exceed."""
    sides = (
        select(ContactLink.contact1_id.label("contact_id"))
        .where(ContactLink.link_type_id == link_type.id)
        .union_all(
            select(ContactLink.contact2_id).where(
                ContactLink.link_type_id == link_type.id
            )
        )
        .subquery()
    )
    busiest = db.session.scalar(
        select(func.count())
        .select_from(sides)
        .group_by(sides.c.contact_id)
        .order_by(func.count().desc())
        .limit(1)
    )
    if busiest and busiest > link_type.max_links:
        raise ServiceError(
            _(
                "Some contacts already have %(count)s %(type)s links; the maximum "
                "cannot be lower than that.",
                count=busiest,
                type=link_type.name,
            ),
            field="max_links",
        )
