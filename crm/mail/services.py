"""E-mail rules and writes: address status, the one send function, tracking.

Every path that sends mail calls ``send_message`` (or ``notify_user`` for a
CRM user), which reads the address's status at the moment of sending and
refuses what the status forbids. Services flush; the caller commits.
"""

import binascii
import logging
import mimetypes
import uuid
from dataclasses import dataclass, field
from email.header import Header
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid
from html.parser import HTMLParser
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, IntegrityError

from crm.activity import services as activity
from crm.activity.models import ActivityEvent
from crm.contacts.models import Contact, ContactEmail
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import human_size, normalize_email
from crm.extensions import db
from crm.mail import (
    kinds,  # noqa: F401  (registers the activity kinds)
    merge,
    statuses,
    tracking,
    transport,
)
from crm.mail.models import (
    Attachment,
    EmailAddressStatus,
    EmailStatusChange,
    Message,
    MessageClick,
    MessageLink,
    MessageOpen,
)

logger = logging.getLogger(__name__)

MANUAL_SOURCE = "manual"
CONFIRMATION = "confirmation"
UNSUBSCRIBE_LINK = "unsubscribe_link"
LIST_UNSUBSCRIBE = "list_unsubscribe"
BOUNCE_SOURCE = "bounce"


class MailRefused(ServiceError):
    """The address's e-mail status forbids this kind of mail."""


class MailFailed(ServiceError):
    """The transport failed; ``message`` is the recorded failed Message."""

    def __init__(self, text: str, message: Message):
        super().__init__(text)
        self.mail = message


class AttachmentRefused(ServiceError):
    """An attachment is too large, or all of them together are."""


# Address status.
def normalise(address: str) -> str:
    return normalize_email(address)


def find_status(address: str) -> EmailAddressStatus | None:
    return db.session.scalar(
        select(EmailAddressStatus).where(
            EmailAddressStatus.address == normalise(address)
        )
    )


def status_for(address: str, *, lock: bool = False) -> EmailAddressStatus:
    """The status row of ``address``, created as non-marketable when new.

    With ``lock`` the row is read again from the database (and locked on
    PostgreSQL), so a change made since the caller loaded it is seen.
    """
    key = normalise(address)
    query = select(EmailAddressStatus).where(EmailAddressStatus.address == key)
    if lock:
        query = query.with_for_update().execution_options(populate_existing=True)
    row = db.session.scalar(query)
    if row is not None:
        return row
    row = EmailAddressStatus(address=key, status=statuses.NON_MARKETABLE, reason="")
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except IntegrityError:
        # Created meanwhile by another request: use that one.
        return db.session.scalar(query)
    return row


def contact_ids_with(address: str) -> list[int]:
    """The contacts holding ``address`` in any of their e-mail slots."""
    return list(
        db.session.scalars(
            select(ContactEmail.contact_id)
            .where(ContactEmail.normalized == normalise(address))
            .distinct()
        )
    )


def set_status(
    row: EmailAddressStatus,
    new: str,
    *,
    source: str,
    reason: str = "",
    actor_id: int | None = None,
    kind: str = "email_status_changed",
    extra_contacts=(),
    data: dict | None = None,
) -> bool:
    """Move an address to ``new`` with a history row and an event per contact."""
    if new not in statuses.ALL:
        raise ValueError(f"unknown e-mail status {new!r}")
    if row.status == new:
        return False
    old = row.status
    row.status = new
    row.reason = reason or ""
    row.changed_at = utcnow()
    row.changes.append(
        EmailStatusChange(
            old_status=old,
            new_status=new,
            reason=reason or "",
            source=source,
            actor_id=actor_id,
        )
    )
    db.session.flush()
    contacts = set(contact_ids_with(row.address)) | set(extra_contacts)
    for contact_id in sorted(contacts):
        activity.record(
            contact_id,
            kind,
            subject=f"{row.address}: {statuses.label(old)} -> {statuses.label(new)}",
            actor_id=actor_id,
            target=f"email:{row.address}",
            data={"old": old, "new": new, "source": source, **(data or {})},
        )
    logger.info(
        "e-mail status of %s: %s -> %s (%s, actor %s)",
        row.address,
        old,
        new,
        source,
        actor_id,
    )
    return True


def opt_in(address: str, reason: str, actor_id: int | None = None) -> bool:
    """Mark an address marketable by hand (single opt-in); a reason is required."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError(
            _("Opting an address in needs a reason (how you got permission)."),
            field="reason",
        )
    row = status_for(address)
    if row.status not in statuses.OPT_IN_FROM:
        raise ServiceError(
            _(
                "%(address)s is %(status)s; that status cannot be opted in by hand.",
                address=row.address,
                status=statuses.label(row.status),
            )
        )
    return set_status(
        row,
        statuses.SINGLE_OPT_IN,
        source=MANUAL_SOURCE,
        reason=reason,
        actor_id=actor_id,
    )


def opt_out(address: str, actor_id: int | None = None, reason: str = "") -> bool:
    """A CRM user opts an address out of marketing (admin opt-out)."""
    row = status_for(address)
    if row.status in statuses.BLOCKED:
        return False
    return set_status(
        row, statuses.ADMIN, source=MANUAL_SOURCE, reason=reason, actor_id=actor_id
    )


def confirm(address: str) -> bool:
    """The address's owner clicked a confirmation link: double opt-in."""
    row = status_for(address)
    if row.status in statuses.CONFIRM_REFUSED:
        return False
    return set_status(
        row,
        statuses.DOUBLE_OPT_IN,
        source=CONFIRMATION,
        reason=_("Confirmed by the confirmation link"),
    )


def send_confirmation(contact_id: int, address: str, actor_id=None) -> Message:
    """Send the double opt-in link to ``address``."""
    link = tracking.confirm_url(normalise(address))
    html = (
        "<p>"
        + _("Please confirm that you want to receive our e-mails:")
        + f'</p><p><a href="{link}">'
        + _("Yes, subscribe me")
        + "</a></p>"
    )
    return send_message(
        contact_id=contact_id,
        address=address,
        subject=_("Please confirm your subscription"),
        html=html,
        purpose=statuses.ONE_TO_ONE,
        actor_id=actor_id,
        track=False,
    )


def unsubscribe(message: Message, *, one_click: bool) -> bool:
    """Opt out the address a message went to: by its link or the one-click header."""
    row = status_for(message.address)
    if row.status in statuses.BLOCKED:
        return False
    new = statuses.LIST_UNSUBSCRIBE if one_click else statuses.MANUAL
    if row.status == new:
        return False
    return set_status(
        row,
        new,
        source=LIST_UNSUBSCRIBE if one_click else UNSUBSCRIBE_LINK,
        reason=_("Unsubscribed from message %(id)s", id=message.id),
        kind="email_unsubscribed",
        extra_contacts=[message.contact_id] if message.contact_id else [],
        data={"message_id": message.id},
    )


# Sending.
def _check_attachments(attachments) -> list[tuple[str, bytes, str]]:
    per_file = current_app.config["MAIL_ATTACHMENT_MAX_BYTES"]
    per_message = current_app.config["MAIL_ATTACHMENTS_MAX_BYTES"]
    checked, total = [], 0
    for item in attachments:
        filename, content = item[0], item[1]
        content_type = (item[2] if len(item) > 2 else None) or (
            mimetypes.guess_type(filename)[0] or "application/octet-stream"
        )
        name = Path(filename.replace("\\", "/")).name[:255] or "attachment"
        if len(content) > per_file:
            raise AttachmentRefused(
                _(
                    "%(name)s is larger than %(limit)s, the limit per file.",
                    name=name,
                    limit=human_size(per_file),
                ),
                field="attachments",
            )
        total += len(content)
        checked.append((name, content, content_type))
    if total > per_message:
        raise AttachmentRefused(
            _(
                "The attachments together are larger than %(limit)s, "
                "the limit per message.",
                limit=human_size(per_message),
            ),
            field="attachments",
        )
    return checked


def one_line(text: str | None) -> str:
    """A header value on one line: line breaks would start a new header."""
    return " ".join((text or "").split())


def attachment_dir() -> Path:
    base = current_app.config.get("UPLOAD_DIR") or (
        Path(current_app.instance_path) / "uploads"
    )
    folder = Path(base) / "mail"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class _TextOf(HTMLParser):
    """Plain text of an HTML body, with each link's address after its text."""

    BREAKS = {"br", "p", "div", "li", "tr", "h1", "h2", "h3", "h4"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts, self.hrefs = [], []

    def handle_starttag(self, tag, attrs):
        if tag in self.BREAKS:
            self.parts.append("\n")
        if tag == "a":
            self.hrefs.append(dict(attrs).get("href"))

    def handle_endtag(self, tag):
        if tag == "a" and self.hrefs:
            href = self.hrefs.pop()
            if href:
                self.parts.append(f" ({href})")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text alternative of an HTML body."""
    parser = _TextOf()
    parser.feed(html or "")
    lines = [line.strip() for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line).strip()


def _refusal(address: str, status: str, purpose: str) -> MailRefused | None:
    """The refusal the status of ``address`` gives mail of ``purpose``, if any."""
    if statuses.may_receive(status, purpose):
        return None
    logger.info("refused %s mail to %s (%s)", purpose, address, status)
    if purpose == statuses.MARKETING:
        return MailRefused(
            _(
                "Not sent: %(address)s is %(status)s and may not receive "
                "marketing e-mail.",
                address=address,
                status=statuses.label(status),
            )
        )
    return MailRefused(
        _(
            "Not sent: %(address)s is %(status)s and may not receive any e-mail.",
            address=address,
            status=statuses.label(status),
        )
    )


def send_message(
    *,
    contact_id,
    address,
    subject,
    html,
    text=None,
    purpose,
    actor_id=None,
    cc=(),
    attachments=(),
    template_id=None,
    headers=None,
    track=True,
) -> Message:
    """Send one e-mail to a contact's address and record it on the contact.

    The address's status is read at this moment: MailRefused when it forbids
    ``purpose`` ("one_to_one" or "marketing"). Links are rewritten to signed
    click URLs and a pixel is added; marketing mail carries an unsubscribe
    link and the RFC 8058 one-click header. A transport failure records the
    message as failed and raises MailFailed; the caller commits either way.
    """
    if purpose not in statuses.PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}")
    how = transport.mode()
    row = status_for(address, lock=True)
    refusal = _refusal(row.address, row.status, purpose)
    if refusal is not None:
        raise refusal
    files = _check_attachments(attachments)

    message = Message(
        contact_id=contact_id,
        address=address.strip(),
        cc=", ".join(cc),
        subject=one_line(subject)[:255],
        purpose=purpose,
        state="queued",
        template_id=template_id,
        actor_id=actor_id,
    )
    db.session.add(message)
    db.session.flush()
    message.html, message.text, urls, _unsubscribe = _tracked_body(
        message.id, purpose, merge.sanitise(html), text, track=track
    )
    for position, url in enumerate(urls, start=1):
        message.links.append(MessageLink(url=url, position=position))
    message.message_id_header = new_message_id()
    email = _build(message, files, headers)
    _store_attachments(message, files)
    _deliver(message, email, how)

    row.last_sent_at = message.sent_at
    if contact_id is not None:
        activity.record(
            contact_id,
            "email_sent",
            subject=message.subject,
            actor_id=actor_id,
            ref=("message", message.id),
            target=f"message:{message.id}",
            data={"address": message.address, "purpose": purpose, "state": how},
        )
    logger.info(
        "mail %s to %s (%s, %s) by %s",
        message.id,
        message.address,
        purpose,
        message.state,
        actor_id,
    )
    return message


def _tracked_body(
    message_id: int, purpose: str, html: str, text, *, track: bool
) -> tuple[str, str, list[str], str]:
    """The body as sent: HTML, plain text, tracked URLs, the unsubscribe URL.

    The URLs are the tracked links' originals; the unsubscribe URL is ""
    when the mail has none. Links point at signed click URLs and a pixel is
    added when ``track``; marketing mail gets an unsubscribe link in both
    parts.
    """
    urls, unsubscribe = [], ""
    if track:
        html, urls = tracking.rewrite_links(html, message_id)
    plain = text if text is not None else html_to_text(html)
    if purpose == statuses.MARKETING:
        unsubscribe = tracking.unsubscribe_url(message_id)
        html += (
            '<p style="font-size:small">'
            + f'<a href="{unsubscribe}">'
            + _("Unsubscribe")
            + "</a></p>"
        )
        plain += "\n\n" + _("Unsubscribe: %(url)s", url=unsubscribe)
    if track:
        html += (
            f'<img src="{tracking.pixel_url(message_id)}" width="1" height="1" alt="">'
        )
    return html, plain, urls, unsubscribe


def new_message_id() -> str:
    """A fresh Message-ID header value in the sender's domain."""
    domain = transport.sender().rpartition("@")[2].strip(">") or "localhost"
    return make_msgid(domain=domain)


def _header_pairs(message, headers) -> list[tuple[str, str]]:
    """The headers of a contact's message, in order, the same for both builders.

    ``message`` is a Message row or a ``Prepared`` one; the List-Unsubscribe
    pair (RFC 8058 one-click) goes on marketing mail.
    """
    pairs = [("From", transport.sender()), ("To", message.address)]
    if message.cc:
        pairs.append(("Cc", message.cc))
    pairs += [
        ("Subject", message.subject),
        ("Message-ID", message.message_id_header),
        ("X-CRM-Message", str(message.id)),
    ]
    if message.purpose == statuses.MARKETING:
        # A batch's message keeps the URL its body was written with.
        unsubscribe = getattr(message, "unsubscribe", "")
        unsubscribe = unsubscribe or tracking.unsubscribe_url(message.id)
        pairs.append(("List-Unsubscribe", f"<{unsubscribe}>"))
        pairs.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    pairs += [(name, str(value)) for name, value in (headers or {}).items()]
    return pairs


def _build(message, files, headers) -> EmailMessage:
    email = EmailMessage()
    for name, value in _header_pairs(message, headers):
        email[name] = value
    email.set_content(message.text)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    for name, content, content_type in files:
        maintype, _slash, subtype = content_type.partition("/")
        email.add_attachment(
            content, maintype=maintype, subtype=subtype or "octet-stream", filename=name
        )
    return email


def _store_attachments(message: Message, files) -> None:
    folder = attachment_dir()
    for name, content, content_type in files:
        stored = uuid.uuid4().hex
        (folder / stored).write_bytes(content)
        message.attachments.append(
            Attachment(
                filename=name,
                stored_name=stored,
                content_type=content_type,
                size=len(content),
            )
        )


def _deliver(message: Message, email: EmailMessage, how: str) -> None:
    if how == "outbox":
        message.state = "outbox"
        message.sent_at = utcnow()
        return
    try:
        transport.deliver(email)
    except transport.TransportError as exc:
        message.state = "failed"
        message.error = exc.message
        db.session.flush()
        raise MailFailed(exc.message, message) from exc
    message.state = "sent"
    message.sent_at = utcnow()
    db.session.flush()


# Sending in batches.
@dataclass
class Outgoing:
    """One e-mail for ``send_many``: what ``send_message`` takes, for one contact.

    ``reuse_id`` names the message an earlier attempt at this same send
    prepared (a step whose worker died): that message is sent again with
    its own Message-ID, or not at all when it already went out.
    """

    contact_id: int | None
    address: str
    subject: str
    html: str
    purpose: str
    text: str | None = None
    actor_id: int | None = None
    template_id: int | None = None
    headers: dict | None = None
    track: bool = True
    reuse_id: int | None = None


@dataclass
class Prepared:
    """An item of a batch after ``prepare_many``: its message row, or why not.

    ``state`` is "queued" (to send), "sent" or "outbox" (an earlier attempt
    delivered it), "refused" or "failed"; ``error`` says why for the last two.
    """

    item: Outgoing
    id: int | None = None
    state: str = "queued"
    error: str = ""
    address: str = ""
    key: str = ""
    subject: str = ""
    purpose: str = ""
    html: str = ""
    text: str = ""
    message_id_header: str = ""
    cc: str = ""
    sent_at: object = None
    links: list = field(default_factory=list)
    unsubscribe: str = ""

    @property
    def delivered(self) -> bool:
        return self.state in ("sent", "outbox")


def _ensure_statuses(keys) -> None:
    """Create the missing status rows of ``keys`` as non-marketable, in one INSERT."""
    if not keys:
        return
    table = EmailAddressStatus.__table__
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    now = utcnow()
    db.session.execute(
        dialect.insert(table).on_conflict_do_nothing(index_elements=["address"]),
        [
            {
                "address": key,
                "status": statuses.NON_MARKETABLE,
                "reason": "",
                "changed_at": now,
                "soft_bounces": 0,
                "hard_bounces": 0,
            }
            for key in sorted(keys)
        ],
    )


def _statuses_of(keys, *, lock: bool) -> dict[str, tuple[int, str]]:
    """(id, status) per address, read in one query; ``lock`` locks the rows.

    The rows are locked in address order, so two batches sharing addresses
    wait for each other instead of deadlocking. SQLite has no row locks: a
    writing transaction holds the whole database instead.
    """
    table = EmailAddressStatus.__table__
    query = (
        select(table.c.address, table.c.id, table.c.status)
        .where(table.c.address.in_(sorted(keys)))
        .order_by(table.c.address)
    )
    if lock:
        query = query.with_for_update()
    return {address: (i, status) for address, i, status in db.session.execute(query)}


def prepare_many(items) -> list[Prepared]:
    """Check consent and write the message rows of a batch, before any is sent.

    The same rules as ``send_message``: the address's status is read now and
    an item it forbids comes back "refused" with the same sentence; the
    others get a queued Message row (one INSERT for the batch), their tracked
    links (one INSERT) and a Message-ID. An item naming an earlier message
    reuses it. Flushes; the caller commits, so that a worker killed during
    the sends finds the rows again.
    """
    prepared = [Prepared(item=item, key=normalise(item.address)) for item in items]
    for one in prepared:
        if one.item.purpose not in statuses.PURPOSES:
            raise ValueError(f"unknown purpose {one.item.purpose!r}")
    _reuse([one for one in prepared if one.item.reuse_id])
    _ensure_statuses({one.key for one in prepared})
    found = _statuses_of({one.key for one in prepared}, lock=True)
    for one in prepared:
        if one.state != "queued":
            continue  # sent by the earlier attempt: consent no longer matters
        refusal = _refusal(one.key, found[one.key][1], one.item.purpose)
        if refusal is not None:
            one.state, one.error = "refused", str(refusal)

    fresh = [one for one in prepared if one.state == "queued" and one.id is None]
    if fresh:
        _insert_messages(fresh)
    return prepared


def _reuse(prepared) -> None:
    """Fill items from the messages an earlier attempt prepared for them."""
    if not prepared:
        return
    table = Message.__table__
    rows = {
        row.id: row
        for row in db.session.execute(
            select(table).where(table.c.id.in_([p.item.reuse_id for p in prepared]))
        )
    }
    for one in prepared:
        row = rows.get(one.item.reuse_id)
        if row is None:
            continue  # deleted meanwhile: a new message is made
        one.id, one.state, one.sent_at = row.id, row.state, row.sent_at
        if one.state == "failed":
            one.state = "queued"
        one.address, one.cc, one.subject = row.address, row.cc, row.subject
        one.purpose, one.html, one.text = row.purpose, row.html, row.text
        one.message_id_header = row.message_id_header


def _insert_messages(prepared) -> None:
    """Write the message rows of ``prepared`` with their tracked bodies and links.

    The bodies hold their message's id (signed links). On PostgreSQL the ids
    are taken from the table's sequence first, so each row is written once,
    complete; SQLite has no sequence: its rows are inserted for their ids and
    the bodies follow in one executemany UPDATE.
    """
    table = Message.__table__
    now = utcnow()
    for one in prepared:
        one.address = one.item.address.strip()
        one.subject = one_line(one.item.subject)[:255]
        one.purpose = one.item.purpose
        one.message_id_header = new_message_id()
    ids = _reserved_ids(len(prepared))
    if ids is not None:
        _fill_bodies(prepared, ids)
        db.session.execute(
            insert(table),
            [{"id": one.id, **_message_row(one, now)} for one in prepared],
        )
    else:
        ids = db.session.execute(
            insert(table).returning(table.c.id, sort_by_parameter_order=True),
            [_message_row(one, now) for one in prepared],
        ).scalars()
        _fill_bodies(prepared, ids)
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(html=bindparam("b_html"), text=bindparam("b_text")),
            [
                {"b_id": one.id, "b_html": one.html, "b_text": one.text}
                for one in prepared
            ],
        )
    links = [
        {"message_id": one.id, "url": url, "position": position}
        for one in prepared
        for position, url in enumerate(one.links, start=1)
    ]
    if links:
        db.session.execute(insert(MessageLink.__table__), links)


def _reserved_ids(count: int) -> list[int] | None:
    """``count`` new message ids from the table's sequence (PostgreSQL), or None."""
    if db.engine.dialect.name != "postgresql":
        return None
    sequence = func.pg_get_serial_sequence(Message.__tablename__, "id")
    return sorted(
        db.session.scalars(
            select(func.nextval(sequence)).select_from(func.generate_series(1, count))
        )
    )


def _fill_bodies(prepared, ids) -> None:
    for one, message_id in zip(prepared, ids, strict=True):
        one.id = message_id
        one.html, one.text, one.links, one.unsubscribe = _tracked_body(
            message_id,
            one.purpose,
            merge.sanitise(one.item.html),
            one.item.text,
            track=one.item.track,
        )


def _message_row(one: Prepared, now) -> dict:
    """The columns of a new batch message (its body as far as it is known)."""
    return {
        "contact_id": one.item.contact_id,
        "address": one.address,
        "cc": "",
        "subject": one.subject,
        "purpose": one.purpose,
        "state": "queued",
        "error": "",
        "html": one.html,
        "text": one.text,
        "template_id": one.item.template_id,
        "actor_id": one.item.actor_id,
        "message_id_header": one.message_id_header,
        "created_at": now,
        "open_count": 0,
        "click_count": 0,
    }


def deliver_many(prepared, *, durable: bool = False) -> list[Prepared]:
    """Send the queued items of ``prepare_many`` over one SMTP connection.

    Consent is read again at the moment of sending, the batch's status rows
    locked in one query: an item the status now forbids is "refused" and its
    message row removed. Each message is handed to the server with its
    Message-ID and headers; a transport failure marks that message failed
    and the next one is tried. Sent messages get ``last_sent_at`` on their
    address and an "email_sent" event; the caller commits.

    With ``durable`` each message is recorded as sent in a commit of its
    own the moment the server accepts it, so a worker killed during the
    batch sends at most that one message again (see ``_SentMarker``).
    """
    how = transport.mode()
    queued = [one for one in prepared if one.state == "queued"]
    found = _statuses_of({one.key for one in prepared}, lock=True)
    withdrawn = []
    for one in queued:
        status = found.get(one.key, (None, statuses.NON_MARKETABLE))[1]
        refusal = _refusal(one.key, status, one.purpose)
        if refusal is not None:
            one.state, one.error = "refused", str(refusal)
            withdrawn.append(one.id)
    if withdrawn:
        db.session.execute(delete(Message).where(Message.id.in_(withdrawn)))

    marker = _SentMarker(durable)
    try:
        with transport.kept_open():
            for one in queued:
                if one.state == "queued":
                    _refuse_if_withdrawn(one, marker.reopen(one.key))
                if one.state == "queued":
                    _hand_over(one, how, marker)
    finally:
        marker.close()
    _record_outcomes(prepared, queued, found, how, marker.recorded)
    return prepared


def _refuse_if_withdrawn(one: Prepared, status: str | None) -> None:
    """Refuse ``one`` and drop its row if its re-read ``status`` forbids it.

    ``status`` is None when the consent read for the batch still holds.
    """
    if status is None:
        return
    refusal = _refusal(one.key, status, one.purpose)
    if refusal is not None:
        one.state, one.error = "refused", str(refusal)
        db.session.execute(delete(Message).where(Message.id == one.id))


def send_many(items) -> list[Prepared]:
    """Send a batch of e-mails with the rules of ``send_message``; one result each.

    ``prepare_many`` and ``deliver_many`` in one unit of work, for callers
    that need no commit before the sends. Refusals and transport failures
    come back per item (``state`` and ``error``) instead of being raised.
    """
    return deliver_many(prepare_many(items))


def _hand_over(one: Prepared, how: str, marker) -> None:
    if how == "outbox":
        one.state, one.sent_at = "outbox", utcnow()
        return
    headers = one.item.headers
    try:
        data = _raw_message(one, headers)
        if data is None:
            transport.deliver(_build(one, (), headers))
        else:
            transport.deliver_bytes(transport.sender(), [one.address], data)
    except transport.TransportError as exc:
        one.state, one.error = "failed", exc.message
        return
    one.state, one.sent_at = "sent", utcnow()
    marker.sent(one)


class _SentMarker:
    """Records sent messages at once, each in a commit of its own (``durable``).

    On PostgreSQL the update goes through a second connection, so the
    batch's transaction keeps its locks on the status rows while it sends;
    ``synchronous_commit`` is off for those small transactions: such a
    commit survives the worker being killed, and only a crash of the
    database server itself could lose the last few (those messages would
    then be sent again, never lost). SQLite has one writer at a time, so a
    second connection would wait for this one: the update commits on the
    session's own connection, together with what the caller wrote so far
    (the caller holds no savepoint there); that commit lets other writers in,
    so the next message's consent is read again before it is sent
    (``reopen``).

    The update is one fixed statement run on the driver's cursor, below
    SQLAlchemy (prepared on the PostgreSQL server): it runs once per
    message, and the statement machinery cost more than the round trip.
    The reply is read before the next message goes to the server, so each
    mark is committed before the next message can be accepted.
    """

    MARK = (
        "UPDATE mail_messages SET state = {p}, sent_at = {p}, error = '' WHERE id = {p}"
    )
    CONSENT = "SELECT status FROM email_address_statuses WHERE address = ?"

    def __init__(self, durable: bool):
        self.durable = durable
        self.recorded = set()
        self.released = False
        self.connection = self.cursor = None
        if not durable:
            return
        dialect = db.engine.dialect
        self.driver_error = dialect.loaded_dbapi.Error
        sent_at = Message.__table__.c.sent_at.type.dialect_impl(dialect)
        self.stored_time = sent_at.bind_processor(dialect)
        if dialect.name == "postgresql":
            self.connection = db.engine.raw_connection()
            driver = self.connection.driver_connection
            # Autocommit: each update is its own transaction, one round trip.
            driver.autocommit = True
            self.cursor = driver.cursor()
            self.cursor.execute("SET synchronous_commit TO off")
            self.statement = self.MARK.format(p="%s")
            self.commit = None
        else:
            if db.session().in_nested_transaction():
                raise RuntimeError("durable marks commit: no savepoint may be open")
            driver = db.session.connection().connection.driver_connection
            self.cursor = driver.cursor()
            self.statement = self.MARK.format(p="?")
            self.commit = driver.commit

    def sent(self, one: Prepared) -> None:
        if not self.durable:
            return
        params = (one.state, self.stored_time(one.sent_at), one.id)
        try:
            if self.commit is None:
                self.cursor.execute(self.statement, params, prepare=True)
            else:
                self.cursor.execute(self.statement, params)
                self.commit()
                self.released = True
        except self.driver_error as exc:
            raise self._error(self.statement, params, exc) from exc
        self.recorded.add(one.id)

    def reopen(self, key: str) -> str | None:
        """After a mark's commit (SQLite), the status of ``key`` read anew.

        The commit let other writers in, an opt-out among them, so the next
        message's consent is read again ("" when the address has no status
        row); None when no commit came since the batch read consent. The
        read takes no write lock: holding SQLite's one write lock through
        the SMTP dialogue would make the workers send one at a time. An
        opt-out committed during that one message's dialogue is not seen.
        """
        if not self.released:
            return None
        try:
            found = self.cursor.execute(self.CONSENT, (key,)).fetchone()
        except self.driver_error as exc:
            raise self._error(self.CONSENT, (key,), exc) from exc
        self.released = False
        return found[0] if found else ""

    def _error(self, statement, params, exc):
        # As SQLAlchemy would raise it: a busy or lost database is an
        # OperationalError to the worker, whichever way it was reached.
        return DBAPIError.instance(statement, params, exc, self.driver_error)

    def close(self) -> None:
        if self.cursor is None:
            return
        try:
            if self.connection is not None:
                # Back in the pool, the connection commits safely again.
                self.cursor.execute("RESET synchronous_commit")
                self.connection.driver_connection.autocommit = False
            self.cursor.close()
        except self.driver_error:
            # The marks made are committed; a connection that cannot be
            # reset is dropped, and an error raised by a mark goes on as it is.
            logger.warning("sent marks: connection dropped", exc_info=True)
            if self.connection is not None:
                self.connection.invalidate()
        finally:
            if self.connection is not None:
                self.connection.close()


def _not_yet_recorded(delivered, queued) -> list[Prepared]:
    """Leave out messages an earlier attempt delivered and already recorded.

    A message sent by an earlier attempt whose worker died has no history
    event yet; one whose attempt failed later, in the step's own
    bookkeeping, has: it must not get a second.
    """
    handed = {id(one) for one in queued}
    earlier = [one.id for one in delivered if id(one) not in handed]
    if not earlier:
        return delivered
    recorded = set(
        db.session.scalars(
            select(ActivityEvent.ref_id).where(
                ActivityEvent.kind == "email_sent",
                ActivityEvent.ref_type == "message",
                ActivityEvent.ref_id.in_(earlier),
            )
        )
    )
    return [one for one in delivered if one.id not in recorded]


def _contacts_kept(delivered) -> set[int]:
    """The contacts of ``delivered`` that still exist.

    Durable marks on SQLite commit as they go, so another writer may delete
    a contact while the batch sends; its history went with it. Called after
    this transaction has written, so no delete can come between.
    """
    ids = {one.item.contact_id for one in delivered} - {None}
    if not ids:
        return set()
    return set(db.session.scalars(select(Contact.id).where(Contact.id.in_(ids))))


def _record_outcomes(prepared, queued, found, how: str, recorded) -> None:
    """Write what came of a delivered batch: states, last_sent_at, events."""
    table = Message.__table__
    changed = [
        one
        for one in queued
        if one.state in ("sent", "outbox", "failed") and one.id not in recorded
    ]
    if changed:
        db.session.execute(
            update(table)
            .where(table.c.id == bindparam("b_id"))
            .values(
                state=bindparam("b_state"),
                sent_at=bindparam("b_sent_at"),
                error=bindparam("b_error"),
            ),
            [
                {
                    "b_id": one.id,
                    "b_state": one.state,
                    "b_sent_at": one.sent_at,
                    "b_error": one.error,
                }
                for one in changed
            ],
        )

    delivered = _not_yet_recorded([one for one in prepared if one.delivered], queued)
    if delivered:
        status = EmailAddressStatus.__table__
        db.session.execute(
            update(status)
            .where(status.c.id == bindparam("b_id"))
            .values(last_sent_at=bindparam("b_at")),
            [
                {"b_id": found[one.key][0], "b_at": one.sent_at}
                for one in delivered
                if one.key in found
            ],
        )
        kept = _contacts_kept(delivered)
        activity.record_rows(
            [
                {
                    "contact_id": one.item.contact_id,
                    "kind": "email_sent",
                    "subject": one.subject,
                    "actor_id": one.item.actor_id,
                    "ref": ("message", one.id),
                    "target": f"message:{one.id}",
                    "data": {
                        "address": one.address,
                        "purpose": one.purpose,
                        "state": how,
                    },
                }
                for one in delivered
                if one.item.contact_id in kept
            ]
        )
    counts = {}
    for one in prepared:
        counts[one.state] = counts.get(one.state, 0) + 1
    logger.info(
        "mail batch of %s: %s",
        len(prepared),
        ", ".join(f"{n} {state}" for state, n in sorted(counts.items())),
    )
    for one in prepared:
        if one.state == "failed":
            logger.warning("mail %s to %s failed: %s", one.id, one.address, one.error)


def _raw_message(one: Prepared, headers) -> bytes | None:
    """The message as RFC 5322 bytes, built directly: text and HTML alternatives.

    Much cheaper than ``EmailMessage`` with its header policy, for the common
    case of ASCII addresses and header values; the subject may be any text
    (RFC 2047 encoded). Returns None when a value needs the full builder.
    """
    lines = []
    for name, value in _header_pairs(one, headers):
        if "\r" in value or "\n" in value:
            return None
        if not value.isascii():
            if name != "Subject":
                return None
            # A long subject is folded: with CRLF, as SMTP requires (a bare
            # LF is refused by servers that guard against smuggling).
            value = Header(value, "utf-8").encode(linesep="\r\n")
        lines.append(f"{name}: {value}")
    boundary = f"=_crm_{uuid.uuid4().hex}"
    lines += [
        f"Date: {formatdate(usegmt=True)}",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative; boundary="{boundary}"',
        "",
        f"--{boundary}",
        'Content-Type: text/plain; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _quoted_printable(one.text),
        f"--{boundary}",
        'Content-Type: text/html; charset="utf-8"',
        "Content-Transfer-Encoding: quoted-printable",
        "",
        _quoted_printable(one.html),
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def _quoted_printable(body: str) -> str:
    normal = "\n".join(body.splitlines())
    encoded = binascii.b2a_qp(normal.encode("utf-8"), istext=True)
    return encoded.decode("ascii").replace("\n", "\r\n")


def notify_user(user, subject: str, text: str) -> Message:
    """Send a system message (a reminder, a notification) to a CRM user."""
    how = transport.mode()
    message = Message(
        user_id=user.id,
        address=user.email,
        subject=one_line(subject)[:255],
        text=text,
        html="",
        purpose=statuses.SYSTEM,
        state="queued",
    )
    db.session.add(message)
    db.session.flush()
    email = EmailMessage()
    email["From"] = transport.sender()
    email["To"] = formataddr((user.name or "", user.email))
    email["Subject"] = message.subject
    email["X-CRM-Message"] = str(message.id)
    email.set_content(text)
    _deliver(message, email, how)
    return message


def send_test(to: str) -> str:
    """Send one test message through the configured transport; returns the mode."""
    how = transport.mode()
    email = EmailMessage()
    email["From"] = transport.sender()
    email["To"] = to
    email["Subject"] = "CRM test message"
    email.set_content("This is a test message from the CRM.")
    if how == "smtp":
        transport.deliver(email)
    return how


# Tracking.
def message_for_token(salt: str, token: str) -> Message | None:
    value = tracking.verify(salt, token)
    if not isinstance(value, int):
        return None
    return db.session.get(Message, value)


def record_open(message: Message, ip: str = "", user_agent: str = "") -> None:
    """Count one open of ``message`` on the message, its address and the contact."""
    now = utcnow()
    message.opens.append(MessageOpen(at=now, ip=ip[:45], user_agent=user_agent[:255]))
    message.open_count = (message.open_count or 0) + 1
    message.last_open_at = now
    status_for(message.address).last_open_at = now
    if message.contact_id:
        activity.record(
            message.contact_id,
            "email_opened",
            subject=message.subject,
            ref=("message", message.id),
            target=f"message:{message.id}",
            occurred_at=now,
        )


def click_target(token: str) -> tuple[Message, str] | None:
    """The message and URL a click token signs, or None when it does not verify."""
    value = tracking.verify(tracking.CLICK, token)
    if not (isinstance(value, list) and len(value) == 2):
        return None
    message_id, url = value
    if not isinstance(message_id, int) or not isinstance(url, str):
        return None
    if not url.lower().startswith(("http://", "https://")):
        return None
    message = db.session.get(Message, message_id)
    return (message, url) if message is not None else None


def record_click(message: Message, url: str, ip: str = "", user_agent: str = ""):
    """Count one click of a message's link, on the message, address and contact."""
    now = utcnow()
    link = db.session.scalar(
        select(MessageLink).where(
            MessageLink.message_id == message.id, MessageLink.url == url
        )
    )
    message.clicks.append(
        MessageClick(
            url=url,
            link_id=link.id if link else None,
            at=now,
            ip=ip[:45],
            user_agent=user_agent[:255],
        )
    )
    message.click_count = (message.click_count or 0) + 1
    message.last_click_at = now
    status_for(message.address).last_click_at = now
    if message.contact_id:
        activity.record(
            message.contact_id,
            "email_clicked",
            subject=message.subject,
            ref=("message", message.id),
            target=f"message:{message.id}",
            occurred_at=now,
            data={"url": url},
        )


# Bounces.
def apply_bounce(address: str, code: str, message_id: int | None = None) -> str:
    """Flag an address after a delivery report: "hard", "soft" or "escalated"."""
    row = status_for(address)
    row.last_bounce_at = utcnow()
    hard = code.startswith("5")
    message = db.session.get(Message, message_id) if message_id else None
    extra = [message.contact_id] if message and message.contact_id else []
    data = {"code": code, "kind": "hard" if hard else "soft"}
    if message is not None:
        message.error = f"bounced {code}"
        data["message_id"] = message.id
    if hard:
        row.hard_bounces = (row.hard_bounces or 0) + 1
        changed = set_status(
            row,
            statuses.HARD_BOUNCE,
            source=BOUNCE_SOURCE,
            reason=code,
            kind="email_bounced",
            extra_contacts=extra,
            data=data,
        )
        if not changed:
            _bounce_event(row, extra, data)
        return "hard"
    row.soft_bounces = (row.soft_bounces or 0) + 1
    limit = current_app.config["MAIL_SOFT_BOUNCE_LIMIT"]
    if row.soft_bounces >= limit and row.status not in statuses.BLOCKED:
        if set_status(
            row,
            statuses.BOUNCE,
            source=BOUNCE_SOURCE,
            reason=code,
            kind="email_bounced",
            extra_contacts=extra,
            data=data,
        ):
            return "escalated"
    _bounce_event(row, extra, data)
    return "soft"


def _bounce_event(row, extra, data) -> None:
    for contact_id in sorted(set(contact_ids_with(row.address)) | set(extra)):
        activity.record(
            contact_id,
            "email_bounced",
            subject=f"{row.address}: {data['code']}",
            target=f"email:{row.address}",
            data=data,
        )
