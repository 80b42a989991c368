"""E-mail rules and writes: address status, the one send function, tracking.

Every path that sends mail calls ``send_message`` (or ``notify_user`` for a
CRM user), which reads the address's status at the moment of sending and
refuses what the status forbids. Services flush; the caller commits.
"""

import logging
import mimetypes
import uuid
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from html.parser import HTMLParser
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from crm.activity import services as activity
from crm.contacts.models import ContactEmail
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


def _refusal(row: EmailAddressStatus, purpose: str) -> MailRefused:
    if purpose == statuses.MARKETING:
        return MailRefused(
            _(
                "Not sent: %(address)s is %(status)s and may not receive "
                "marketing e-mail.",
                address=row.address,
                status=statuses.label(row.status),
            )
        )
    return MailRefused(
        _(
            "Not sent: %(address)s is %(status)s and may not receive any e-mail.",
            address=row.address,
            status=statuses.label(row.status),
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
    if not statuses.may_receive(row.status, purpose):
        logger.info("refused %s mail to %s (%s)", purpose, row.address, row.status)
        raise _refusal(row, purpose)
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
    _compose_body(message, merge.sanitise(html), text, track=track)
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


def _compose_body(message: Message, html: str, text, *, track: bool) -> None:
    urls = []
    if track:
        html, urls = tracking.rewrite_links(html, message.id)
    for position, url in enumerate(urls, start=1):
        message.links.append(MessageLink(url=url, position=position))
    plain = text if text is not None else html_to_text(html)
    if message.purpose == statuses.MARKETING:
        unsubscribe = tracking.unsubscribe_url(message.id)
        html += (
            '<p style="font-size:small">'
            + f'<a href="{unsubscribe}">'
            + _("Unsubscribe")
            + "</a></p>"
        )
        plain += "\n\n" + _("Unsubscribe: %(url)s", url=unsubscribe)
    if track:
        html += (
            f'<img src="{tracking.pixel_url(message.id)}" width="1" height="1" alt="">'
        )
    message.html = html
    message.text = plain


def _build(message: Message, files, headers) -> EmailMessage:
    email = EmailMessage()
    sender = transport.sender()
    email["From"] = sender
    email["To"] = message.address
    if message.cc:
        email["Cc"] = message.cc
    email["Subject"] = message.subject
    domain = sender.rpartition("@")[2].strip(">") or "localhost"
    email["Message-ID"] = make_msgid(domain=domain)
    email["X-CRM-Message"] = str(message.id)
    if message.purpose == statuses.MARKETING:
        email["List-Unsubscribe"] = f"<{tracking.unsubscribe_url(message.id)}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    for name, value in (headers or {}).items():
        email[name] = value
    message.message_id_header = email["Message-ID"]
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
