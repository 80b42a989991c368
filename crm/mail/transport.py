"""Delivering a built message over SMTP, as configured by CRM_MAIL_URL.

``smtp://host:port`` is plain SMTP, ``smtp+starttls://`` upgrades with
STARTTLS, ``smtps://`` connects over TLS; user and password in the URL log in.
Each delivery opens its own connection, except inside ``kept_open()``, where
the deliveries of a batch share one.
"""

import logging
import smtplib
import ssl
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.message import EmailMessage
from urllib.parse import unquote, urlsplit

from flask import current_app
from flask_babel import gettext as _

from crm.core.errors import ServiceError

logger = logging.getLogger(__name__)

SCHEMES = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


class TransportError(ServiceError):
    """The mail server could not be reached or refused the message."""


class NotConfigured(ServiceError):
    """No mail server is configured and the app is not in demo mode."""


@dataclass(frozen=True)
class SmtpSettings:
    scheme: str
    host: str
    port: int
    username: str | None
    password: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"


def parse_url(url: str) -> SmtpSettings:
    """Read an smtp URL; a malformed one raises ValueError naming the problem."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError(
            f"CRM_MAIL_URL must start with smtp://, smtp+starttls:// or smtps://, "
            f"not {parts.scheme or 'nothing'}://"
        )
    if not parts.hostname:
        raise ValueError("CRM_MAIL_URL names no host")
    return SmtpSettings(
        scheme=parts.scheme,
        host=parts.hostname,
        port=parts.port or SCHEMES[parts.scheme],
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def mode() -> str:
    """ "smtp" when a server is configured, "outbox" in demo mode without one."""
    if current_app.config.get("MAIL_URL"):
        return "smtp"
    if current_app.config.get("DEMO"):
        return "outbox"
    raise NotConfigured(
        _(
            "E-mail is not configured: set CRM_MAIL_URL (and CRM_MAIL_FROM) "
            "in the environment or in instance/config.py."
        )
    )


def sender() -> str:
    return current_app.config.get("MAIL_FROM") or "crm@localhost"


#: The connection ``kept_open`` holds: [client or None], or None outside it.
_kept: ContextVar[list | None] = ContextVar("crm_smtp_kept", default=None)


@contextmanager
def kept_open():
    """Let the deliveries inside share one SMTP connection, closed at the end.

    A connection the server dropped meanwhile is opened again on the next
    delivery.
    """
    holder = []
    token = _kept.set(holder)
    try:
        yield
    finally:
        _kept.reset(token)
        for client in holder:
            _close(client)


def _close(client) -> None:
    try:
        client.quit()
    except (smtplib.SMTPException, OSError):
        client.close()


def _settings() -> SmtpSettings:
    try:
        return parse_url(current_app.config["MAIL_URL"])
    except ValueError as exc:
        raise TransportError(
            _("The mail server setting is invalid: %(problem)s", problem=str(exc))
        ) from exc


def _open(settings: SmtpSettings):
    timeout = current_app.config.get("MAIL_TIMEOUT", 10)
    if settings.scheme == "smtps":
        client = smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=timeout,
            context=ssl.create_default_context(),
        )
    else:
        client = smtplib.SMTP(settings.host, settings.port, timeout=timeout)
    try:
        if settings.scheme == "smtp+starttls":
            client.starttls(context=ssl.create_default_context())
        if settings.username:
            client.login(settings.username, settings.password or "")
    except BaseException:
        client.close()
        raise
    return client


def _send_kept(holder: list, settings: SmtpSettings, send) -> None:
    if holder:
        try:
            send(holder[0])
            return
        except smtplib.SMTPServerDisconnected:
            # Dropped while idle (the server's timeout): nothing was sent.
            holder.pop().close()
    holder.append(_open(settings))
    send(holder[0])


def deliver(message: EmailMessage) -> None:
    """Send ``message`` through the configured server or raise TransportError."""
    _deliver_with(lambda client: client.send_message(message))


def deliver_bytes(sender: str, recipients: list[str], data: bytes) -> None:
    """Send a message already encoded as RFC 5322 bytes (CRLF line ends)."""
    _deliver_with(lambda client: client.sendmail(sender, recipients, data))


def _deliver_with(send) -> None:
    settings = _settings()
    holder = _kept.get()
    try:
        if holder is not None:
            _send_kept(holder, settings, send)
        else:
            with _open(settings) as client:
                send(client)
    except smtplib.SMTPRecipientsRefused as exc:
        code, reply = next(iter(exc.recipients.values()))
        raise _refused(settings, code, reply) from exc
    except smtplib.SMTPResponseException as exc:
        raise _refused(settings, exc.smtp_code, exc.smtp_error) from exc
    except (smtplib.SMTPException, OSError) as exc:
        if holder:
            holder.pop().close()
        logger.warning("mail server %s unreachable: %s", settings.where, exc)
        raise TransportError(
            _(
                "The mail server at %(where)s could not be reached: %(error)s",
                where=settings.where,
                error=str(exc) or exc.__class__.__name__,
            )
        ) from exc


def _refused(settings, code, reply) -> TransportError:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    logger.warning("mail server %s refused: %s %s", settings.where, code, text)
    return TransportError(
        _(
            "The mail server at %(where)s refused the message: %(code)s %(reply)s",
            where=settings.where,
            code=code,
            reply=text,
        )
    )
