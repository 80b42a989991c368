"""The file box: adding, publishing, removing and serving a contact's files.

Bytes are written under a generated name in the files folder (never the
uploaded name, never under the static root) and counted while they stream,
so a file over a limit is refused before it is complete and its partial
copy removed. Writes to disk follow the database: a file added in a
transaction (or savepoint) that rolls back is removed, and a removed file's
bytes go only once the removal is committed by the outermost transaction.
"""

import logging
import re
import secrets
import unicodedata
import uuid
from pathlib import Path

import filetype
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from crm.contacts.models import Contact
from crm.core.errors import ServiceError
from crm.core.text import human_size
from crm.extensions import db
from crm.files.models import SOURCES, UPLOAD, ContactFile

log = logging.getLogger(__name__)

PUBLIC_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
CHUNK = 64 * 1024
SNIFF_BYTES = 8192
OCTET_STREAM = "application/octet-stream"
# Types a browser never renders as a page or runs as script; every other
# type (html, svg, xml, pdf, text, unknown) is served as octet-stream.
INERT_TYPES = {
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "application/zip",
    "application/gzip",
    "application/x-7z-compressed",
    "audio/mpeg",
    "audio/ogg",
    "video/mp4",
    "video/webm",
}
# A sandboxed, script-free policy for every file response.
FILE_CSP = "sandbox; default-src 'none'"
_PENDING_NEW = "crm_files_new"
_PENDING_GONE = "crm_files_gone"


class FileRefused(ServiceError):
    """A file was not kept: too large, empty, or the box is full."""


def files_dir() -> Path:
    """The folder that holds the bytes: FILES_DIR, else UPLOAD_DIR/files,
    else instance/files (all outside the static root)."""
    config = current_app.config
    if config.get("FILES_DIR"):
        folder = Path(config["FILES_DIR"])
    elif config.get("UPLOAD_DIR"):
        folder = Path(config["UPLOAD_DIR"]) / "files"
    else:
        folder = Path(current_app.instance_path) / "files"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def path_of(row: ContactFile) -> Path:
    """Where a file's bytes are on disk."""
    return files_dir() / row.stored_name


def limits() -> tuple[int, int]:
    """(per file, per contact) in bytes, as configured."""
    config = current_app.config
    return int(config["FILE_MAX_BYTES"]), int(config["FILEBOX_MAX_BYTES"])


def display_name(raw: str | None) -> str:
    """The uploaded name made safe to show and to send back as a file name.

    Only the last path part is kept (both slash kinds), control and format
    characters go, the text is NFC, and it fits 255 characters with its
    extension kept.
    """
    text = unicodedata.normalize("NFC", raw or "")
    text = text.replace("\\", "/").rsplit("/", 1)[-1]
    text = "".join(
        " " if ch in "\t\r\n" else ch
        for ch in text
        if unicodedata.category(ch) not in ("Cc", "Cf", "Cs") or ch in "\t\r\n"
    )
    text = " ".join(text.split()).strip(" .")
    if not text:
        return "file"
    if len(text) > 255:
        stem, dot, extension = text.rpartition(".")
        if dot and 0 < len(extension) <= 16:
            text = stem[: 254 - len(extension)] + "." + extension
        else:
            text = text[:255]
    return text


def used_bytes(contact_id: int) -> int:
    """How much of the contact's file box is taken."""
    return db.session.scalar(
        select(func.coalesce(func.sum(ContactFile.size), 0)).where(
            ContactFile.contact_id == contact_id
        )
    )


def files_of(contact_id: int) -> list[ContactFile]:
    """The contact's files, newest first."""
    return db.session.scalars(
        select(ContactFile)
        .where(ContactFile.contact_id == contact_id)
        .order_by(ContactFile.created_at.desc(), ContactFile.id.desc())
    ).all()


def _lock_contact(contact_id: int) -> None:
    # Two uploads to one box must not both pass the box limit.
    db.session.execute(
        select(Contact.id).where(Contact.id == contact_id).with_for_update()
    )


def _too_large(name: str, limit: int) -> FileRefused:
    return FileRefused(
        _(
            "%(name)s is too large (limit %(limit)s per file); it was not kept.",
            name=name,
            limit=human_size(limit),
        ),
        field="files",
    )


def _box_full(name: str, limit: int, used: int) -> FileRefused:
    return FileRefused(
        _(
            "%(name)s does not fit in this file box (%(used)s of %(limit)s used); "
            "it was not kept.",
            name=name,
            used=human_size(used),
            limit=human_size(limit),
        ),
        field="files",
    )


def copy_limited(stream, target: Path, cap: int) -> tuple[int, bytes] | None:
    """Copy ``stream`` to a new file ``target``: (size, first bytes), or None
    (and no file) once it passes ``cap`` bytes."""
    size, head = 0, b""
    try:
        with target.open("xb") as out:
            while True:
                chunk = stream.read(CHUNK)
                if not chunk:
                    break
                size += len(chunk)
                if size > cap:
                    break
                if len(head) < SNIFF_BYTES:
                    head += chunk[: SNIFF_BYTES - len(head)]
                out.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    if size > cap:
        target.unlink(missing_ok=True)
        return None
    return size, head


def detect_type(head: bytes) -> str:
    """The type the bytes say they are; plain text when they decode as UTF-8."""
    kind = filetype.guess(head) if head else None
    if kind is not None:
        return kind.mime
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        # A cut in the middle of a character at the end of the sample.
        try:
            head[:-3].decode("utf-8")
        except UnicodeDecodeError:
            return OCTET_STREAM
    return "text/plain"


def served_type(content_type: str) -> str:
    """The Content-Type of a download: inert types as they are, else octet-stream."""
    return content_type if content_type in INERT_TYPES else OCTET_STREAM


def add_file(
    contact,
    *,
    name,
    stream,
    uploaded_by=None,
    source=UPLOAD,
    source_name="",
    public=False,
) -> ContactFile:
    """Keep one file in the contact's file box and flush its row; the caller commits.

    ``stream`` is read in chunks; a file larger than the per-file limit or
    than the room left in the box raises FileRefused, as does an empty one,
    and then nothing is kept (no row, no bytes). The type is decided from the
    bytes; the name is metadata only. ``source_name`` says which form (say)
    the file came with.
    """
    if source not in SOURCES:
        raise ValueError(f"unknown file source {source!r}")
    shown = display_name(name)
    per_file, per_box = limits()
    _lock_contact(contact.id)
    used = used_bytes(contact.id)
    room = per_box - used
    cap = min(per_file, room)

    stored = uuid.uuid4().hex
    target = files_dir() / stored
    copied = copy_limited(stream, target, max(cap, 0))
    if copied is None:
        if cap < per_file:
            raise _box_full(shown, per_box, used)
        raise _too_large(shown, per_file)
    size, head = copied
    if size == 0:
        target.unlink(missing_ok=True)
        raise FileRefused(
            _("%(name)s is empty; it was not kept.", name=shown), field="files"
        )

    row = ContactFile(
        contact_id=contact.id,
        name=shown,
        stored_name=stored,
        size=size,
        content_type=detect_type(head),
        source=source,
        source_name=(source_name or "")[:120],
        uploaded_by_id=getattr(uploaded_by, "id", uploaded_by),
    )
    if public:
        _publish(row)
    db.session.add(row)
    remove_if_rolled_back(target)
    db.session.flush()
    log.info(
        "file %s (%s, %s bytes, %s) added to contact %s by %s",
        row.id,
        row.content_type,
        size,
        source,
        contact.id,
        getattr(uploaded_by, "email", uploaded_by),
    )
    return row


def _publish(row: ContactFile) -> None:
    row.is_public = True
    row.public_token = secrets.token_urlsafe(32)


def set_public(row: ContactFile, public: bool, actor=None) -> None:
    """Make a file public (a new unguessable link) or private (the link dies)."""
    if public and not row.is_public:
        _publish(row)
    elif not public:
        row.is_public = False
        row.public_token = None
    log.info(
        "file %s made %s by %s",
        row.id,
        "public" if public else "private",
        getattr(actor, "email", None),
    )


def delete_file(row: ContactFile, actor=None) -> None:
    """Remove a file's row; its bytes go when the removal is committed."""
    forget_bytes([row.stored_name])
    db.session.delete(row)
    db.session.flush()
    log.info("file %s removed by %s", row.id, getattr(actor, "email", None))


def forget_bytes(stored_names) -> None:
    """Remove these stored files from disk once the session commits."""
    folder = files_dir()
    remove_when_committed(folder / name for name in stored_names)


def remove_if_rolled_back(path: Path) -> None:
    """Remove the file just written at ``path`` if the work that wrote it is
    rolled back (the transaction, or the savepoint it was written in)."""
    _remember(db.session(), _PENDING_NEW, [path])


def remove_when_committed(paths, session=None) -> None:
    """Remove these files from disk once the outermost transaction commits;
    a rollback (of it, or of the savepoint open now) keeps them."""
    _remember(session or db.session(), _PENDING_GONE, list(paths))


def _remember(session, key, paths) -> None:
    # Each path is kept with the innermost transaction open now, so a
    # savepoint that rolls back undoes only what was done inside it.
    transaction = session.get_nested_transaction() or session.get_transaction()
    session.info.setdefault(key, []).extend((transaction, path) for path in paths)


def _inside(transaction, ended) -> bool:
    while transaction is not None:
        if transaction is ended:
            return True
        transaction = transaction.parent
    return False


def find_public(token: str | None) -> ContactFile | None:
    """The public file this link token names, or None."""
    # Tokens are URL-safe; anything else (a NUL fails on PostgreSQL) names none.
    if not isinstance(token, str) or not PUBLIC_TOKEN.match(token):
        return None
    return db.session.scalar(
        select(ContactFile).where(
            ContactFile.public_token == token, ContactFile.is_public.is_(True)
        )
    )


@event.listens_for(Contact, "before_delete")
def _contact_files_go_too(mapper, connection, contact) -> None:
    """A deleted contact's files lose their rows (FK cascade) and their bytes."""
    names = connection.scalars(
        select(ContactFile.stored_name).where(ContactFile.contact_id == contact.id)
    ).all()
    if names:
        session = Session.object_session(contact)
        if session is not None:
            folder = files_dir()
            remove_when_committed([folder / name for name in names], session)


@event.listens_for(Session, "after_commit")
def _after_commit(session) -> None:
    if session.in_nested_transaction():
        # A savepoint was released; the outer transaction may still roll back.
        return
    session.info.pop(_PENDING_NEW, None)
    gone = session.info.pop(_PENDING_GONE, None)
    if not gone:
        return
    for _transaction, path in gone:
        path.unlink(missing_ok=True)
    log.info("%s stored files removed", len(gone))


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, previous_transaction) -> None:
    if not previous_transaction.nested:
        return
    undone = _split(session, _PENDING_NEW, previous_transaction)
    _split(session, _PENDING_GONE, previous_transaction)
    for _transaction, path in undone:
        path.unlink(missing_ok=True)


@event.listens_for(Session, "after_transaction_end")
def _after_transaction_end(session, transaction) -> None:
    # A committed transaction has emptied both lists already; anything left
    # was written by one that rolled back, or that ended when the session
    # was closed after an unexpected error.
    if transaction.parent is not None:
        return
    session.info.pop(_PENDING_GONE, None)
    for _transaction, path in session.info.pop(_PENDING_NEW, None) or ():
        path.unlink(missing_ok=True)


def _split(session, key, ended) -> list:
    """Take out of ``session.info[key]`` the entries made inside ``ended``."""
    entries = session.info.get(key) or []
    inside = [entry for entry in entries if _inside(entry[0], ended)]
    if inside:
        session.info[key] = [entry for entry in entries if entry not in inside]
    return inside
