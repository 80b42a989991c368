"""Tags: finding or creating them, applying and removing them on contacts.

Applying or removing a tag is what automation (campaign goals, lead scoring)
reacts to, so both send a blinker signal: ``tag_applied`` and ``tag_removed``,
with the contact as sender and ``tag=`` and ``actor=`` as keyword arguments.
The signals are sent after the change is flushed, inside the caller's unit
of work: listeners should only add rows to the same session (an outbox), and
leave sending mail and other outside effects to work that runs after commit.
"""

import logging
import re

from blinker import Namespace
from flask_babel import gettext as _
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from crm.access import policy
from crm.automation.models import Sequence
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import as_id, clean, fold
from crm.extensions import db
from crm.tags.models import ContactTag, Tag, TagCategory
from crm.webforms.models import WebForm

log = logging.getLogger(__name__)

NAME_LIMIT = 255

_signals = Namespace()
tag_applied = _signals.signal("tag-applied")
tag_removed = _signals.signal("tag-removed")

_SPACES = re.compile(r"\s+")


def clean_name(value, what: str) -> str:
    """A tag or category name: NFC, trimmed, single spaces; ServiceError if unusable."""
    name = _SPACES.sub(" ", clean(value) or "")
    if not name:
        raise ServiceError(_("A %(what)s needs a name.", what=what))
    if len(name) > NAME_LIMIT:
        raise ServiceError(
            _(
                "A %(what)s name has at most %(limit)s characters.",
                what=what,
                limit=NAME_LIMIT,
            )
        )
    return name


def clean_tag_name(value) -> str:
    """A new tag's name: ``clean_name``, and no comma or semicolon, which
    separate tags in every contact file (they would come back as two tags)."""
    name = clean_name(value, _("tag"))
    if "," in name or ";" in name:
        raise ServiceError(
            _(
                "A tag name cannot hold a comma or a semicolon (%(name)s): contact "
                "files separate tags with them.",
                name=name,
            )
        )
    return name


def _find(model, name: str):
    """The row of ``model`` whose name equals ``name`` ignoring case, or None."""
    found = db.session.scalar(
        select(model).where(func.lower(model.name) == name.lower()).limit(1)
    )
    if found is not None or name.isascii():
        return found
    # SQLite lowers ASCII letters only, so non-ASCII names are compared here.
    key = fold(name)
    rows = db.session.execute(select(model.id, model.name))
    match = next((row.id for row in rows if fold(row.name) == key), None)
    return db.session.get(model, match) if match is not None else None


def find_tag(name: str) -> Tag | None:
    """The tag of that name (case-insensitive), or None."""
    return _find(Tag, clean_name(name, _("tag")))


def find_category(name: str) -> TagCategory | None:
    """The tag category of that name (case-insensitive), or None."""
    return _find(TagCategory, clean_name(name, _("tag category")))


def name_taken(model, name: str, exclude_id: int | None = None) -> bool:
    """Whether another row of ``model`` (Tag or TagCategory) already has the name."""
    found = _find(model, name)
    return found is not None and found.id != exclude_id


def _create(model, **values):
    """Insert a row in a savepoint; on a concurrent duplicate, return the winner."""
    row = model(**values)
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        row = _find(model, values["name"])
        if row is None:
            raise
    return row


def get_or_create_category(name: str) -> TagCategory:
    """The category of that name, created when none matches it ignoring case."""
    name = clean_name(name, _("tag category"))
    category = _find(TagCategory, name)
    if category is None:
        category = _create(TagCategory, name=name)
        log.info("tag category created: %s", name)
    return category


def get_or_create_tag(name: str, category_name: str | None = None) -> Tag:
    """The tag of that name, created (in ``category_name``) when none matches.

    Names are trimmed and NFC-normalised; an existing tag that differs only in
    case is reused as it is, in its own category. A new tag goes into the
    named category, which is created when needed; without one it has none.
    """
    name = clean_name(name, _("tag"))
    tag = _find(Tag, name)
    if tag is not None:
        return tag
    name = clean_tag_name(name)

    category = get_or_create_category(category_name) if clean(category_name) else None
    tag = _create(Tag, name=name, category_id=category.id if category else None)
    log.info("tag created: %s (category %s)", name, category)
    return tag


def applied(contact, tag) -> ContactTag | None:
    """The application of ``tag`` on ``contact``, or None."""
    return next((link for link in contact.tag_links if link.tag_id == tag.id), None)


def apply_tag(contact, tag, actor=None, via: str | None = None) -> ContactTag:
    """Apply ``tag`` to ``contact`` (once); the caller commits.

    Applying a tag that is already there changes nothing and sends no signal;
    the first application time is kept. ``via`` names what applied it when no
    user did: ``"sequence:<id>"`` (automation) or ``"webform:<id>"``.
    """
    existing = applied(contact, tag)
    if existing is not None:
        return existing

    link = ContactTag(
        tag=tag,
        tag_id=tag.id,
        applied_at=utcnow(),
        applied_by_id=getattr(actor, "id", None),
        applied_via=via,
    )
    contact.tag_links.append(link)
    db.session.flush()
    log.info(
        "tag %r applied to contact %s by %s",
        tag.name,
        contact.id,
        getattr(actor, "email", None),
    )
    tag_applied.send(contact, tag=tag, actor=actor)
    return link


def remove_tag(contact, tag, actor=None) -> bool:
    """Remove ``tag`` from ``contact``; False when it was not applied."""
    existing = applied(contact, tag)
    if existing is None:
        return False

    contact.tag_links.remove(existing)
    db.session.flush()
    log.info(
        "tag %r removed from contact %s by %s",
        tag.name,
        contact.id,
        getattr(actor, "email", None),
    )
    tag_removed.send(contact, tag=tag, actor=actor)
    return True


def applied_by_text(link: ContactTag) -> str:
    """Who applied a tag: the user, else the automation or web form ("" if unknown)."""
    if link.applied_by is not None:
        return str(link.applied_by)
    kind, _sep, ref = (link.applied_via or "").partition(":")
    row_id = as_id(ref) if ref.isascii() and ref.isdigit() else None
    if kind == "sequence":
        sequence = db.session.get(Sequence, row_id) if row_id else None
        if sequence is None:
            return _("Automation")
        return _("Automation: %(name)s", name=str(sequence))
    if kind == "webform":
        form = db.session.get(WebForm, row_id) if row_id else None
        if form is None:
            return _("Web form")
        return _("Web form: %(name)s", name=form.name)
    return ""


def categories() -> list[TagCategory]:
    """Every tag category, by name."""
    return list(db.session.scalars(select(TagCategory).order_by(TagCategory.name)))


def get_tag(tag_id, user) -> Tag | None:
    """The tag with that id when the user may see it, else None."""
    return _get_visible(Tag, tag_id, user)


def get_category(category_id, user) -> TagCategory | None:
    """The tag category with that id when the user may see it, else None."""
    return _get_visible(TagCategory, category_id, user)


def _get_visible(model, row_id, user):
    row_id = as_id(row_id)
    if row_id is None:
        return None
    return db.session.scalar(
        select(model).where(model.id == row_id, policy.scope(model, user))
    )


def grouped_tags(exclude_ids=()) -> list[tuple[str | None, list[Tag]]]:
    """All tags grouped by category name (None for "No category"), sorted."""
    query = select(Tag).outerjoin(Tag.category).order_by(TagCategory.name, Tag.name)
    groups: dict[str | None, list[Tag]] = {}
    for tag in db.session.scalars(query):
        if tag.id in exclude_ids:
            continue
        groups.setdefault(tag.category.name if tag.category else None, []).append(tag)
    named = sorted((k for k in groups if k is not None), key=fold)
    ordered = [(name, groups[name]) for name in named]
    if None in groups:
        ordered.append((None, groups[None]))
    return ordered
