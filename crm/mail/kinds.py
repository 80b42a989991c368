"""The activity kinds the mail domain records, and how a sent e-mail reads."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from markupsafe import Markup

from crm.activity import kinds
from crm.extensions import db


def _when(value) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def describe_sent(event) -> Markup:
    """Opens and clicks of the message an "email_sent" event is about."""
    from crm.mail.models import Message

    message = db.session.get(Message, event.ref_id) if event.ref_id else None
    if message is None:
        return Markup("")
    return Markup(
        '<span class="mail-engagement" data-message-id="{id}">'
        '<span class="mail-opens">{opens}</span> · '
        '<span class="mail-clicks">{clicks}</span></span>'
    ).format(
        id=message.id,
        opens=_opens(message.open_count, message.last_open_at),
        clicks=_clicks(message.click_count, message.last_click_at),
    )


def _opens(count: int, last) -> str:
    if not count:
        return _("Not opened yet")
    return ngettext(
        "Opened once, on %(when)s",
        "Opened %(num)s times, last on %(when)s",
        count,
        when=_when(last),
    )


def _clicks(count: int, last) -> str:
    if not count:
        return _("No link clicked yet")
    return ngettext(
        "Clicked once, on %(when)s",
        "Clicked %(num)s times, last on %(when)s",
        count,
        when=_when(last),
    )


def status_change_title(event) -> str | None:
    """ "<address>: <old status> → <new status>", in the reader's language."""
    from crm.mail import statuses

    data = event.data or {}
    target = event.target or ""
    if "old" not in data or "new" not in data or not target.startswith("email:"):
        return None
    return _(
        "%(address)s: %(old)s → %(new)s",
        address=target.removeprefix("email:"),
        old=statuses.label(data["old"]),
        new=statuses.label(data["new"]),
    )


kinds.register("email_sent", _l("E-mail sent"), "email", describe_sent)
kinds.register("email_opened", _l("E-mail opened"), "email")
kinds.register("email_clicked", _l("E-mail link clicked"), "email")
kinds.register(
    "email_unsubscribed", _l("Unsubscribed"), "email", title=status_change_title
)
kinds.register("email_bounced", _l("E-mail bounced"), "email")
kinds.register(
    "email_status_changed",
    _l("E-mail status changed"),
    "email",
    title=status_change_title,
)
