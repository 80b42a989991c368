"""Reading delivery-status reports (RFC 3464) and flagging the addresses.

Reports come from a mailbox over IMAP (CRM_BOUNCE_IMAP_URL, e.g.
``imaps://user:pass@host:993/INBOX``), or from files for tests and one-off
runs. A 5.x.x status is a hard bounce, 4.x.x a soft one.
"""

import email
import imaplib
import logging
import re
from dataclasses import dataclass
from email import policy
from pathlib import Path
from urllib.parse import unquote, urlsplit

from crm.mail import services

logger = logging.getLogger(__name__)

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")


@dataclass(frozen=True)
class Bounce:
    address: str
    code: str  # e.g. "5.1.1"
    message_id: int | None  # our Message, when the report quotes its header


def parse(raw: bytes) -> list[Bounce]:
    """The failed or delayed recipients of one report; [] when it is not one."""
    report = email.message_from_bytes(raw, policy=policy.default)
    if report.get_content_type() != "multipart/report":
        return []
    status_part = next(
        (p for p in report.walk() if p.get_content_type() == "message/delivery-status"),
        None,
    )
    if status_part is None:
        return []
    message_id = _quoted_message_id(report)
    bounces = []
    for block in _status_blocks(status_part):
        action = (block.get("Action") or "").strip().lower()
        match = _STATUS.match(block.get("Status") or "")
        recipient = block.get("Final-Recipient") or block.get("Original-Recipient")
        if not match or not recipient or action not in ("failed", "delayed"):
            continue
        if match.group(1) == "2":
            continue
        address = recipient.split(";", 1)[-1].strip().strip("<>")
        bounces.append(Bounce(address, ".".join(match.groups()), message_id))
    return bounces


def _status_blocks(part) -> list:
    payload = part.get_payload()
    if isinstance(payload, list):
        # The parser gives one header block per list item: the per-message
        # fields first, then one per recipient.
        return payload[1:] if len(payload) > 1 else payload
    text = payload if isinstance(payload, str) else part.get_payload(decode=True)
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    blocks = re.split(r"\r?\n\s*\r?\n", text.strip())
    return [email.message_from_string(b) for b in blocks[1:] or blocks]


def _quoted_message_id(report) -> int | None:
    for part in report.walk():
        kind = part.get_content_type()
        if kind == "message/rfc822":
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) else inner
            value = inner.get("X-CRM-Message") if inner is not None else None
        elif kind == "text/rfc822-headers":
            headers = email.message_from_string(part.get_content())
            value = headers.get("X-CRM-Message")
        else:
            continue
        if value and value.strip().isdigit():
            return int(value.strip())
    return None


def apply(raw: bytes, source: str = "") -> list[tuple[Bounce, str]]:
    """Flag every bounced address of one report; returns (bounce, outcome) pairs."""
    results = []
    for bounce in parse(raw):
        outcome = services.apply_bounce(bounce.address, bounce.code, bounce.message_id)
        logger.info(
            "bounce %s %s from %s: %s", bounce.address, bounce.code, source, outcome
        )
        results.append((bounce, outcome))
    return results


def files_in(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file())


def read_imap(url: str, apply_one) -> int:
    """Apply every unseen report in the IMAP folder and mark it seen.

    ``apply_one(raw)`` handles one report (and commits it); returns the number
    of messages read.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("imap", "imaps") or not parts.hostname:
        raise ValueError(
            "CRM_BOUNCE_IMAP_URL must look like imaps://user:pass@host/INBOX"
        )
    port = parts.port or (993 if parts.scheme == "imaps" else 143)
    folder = unquote(parts.path.lstrip("/")) or "INBOX"
    client_class = imaplib.IMAP4_SSL if parts.scheme == "imaps" else imaplib.IMAP4
    client = client_class(parts.hostname, port, timeout=30)
    count = 0
    try:
        client.login(unquote(parts.username or ""), unquote(parts.password or ""))
        client.select(folder)
        _status, data = client.search(None, "UNSEEN")
        for number in (data[0] or b"").split():
            _status, fetched = client.fetch(number, "(RFC822)")
            raw = next((item[1] for item in fetched if isinstance(item, tuple)), None)
            if raw is None:
                continue
            apply_one(raw)
            client.store(number, "+FLAGS", "\\Seen")
            count += 1
    finally:
        try:
            client.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    return count
