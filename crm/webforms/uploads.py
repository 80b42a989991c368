"""Files sent with a web form: checked in the request, kept on disk while the
submission waits, and moved into the contact's file box when it is processed.

A submission processed at once hands its files straight to the file box, in
the same transaction as the contact. A queued or held one keeps them as
pending files (rows in webform_submission_files, bytes under generated names
in the "pending" folder inside the file box's folder); processing or approval
moves them, discarding deletes them. A submission held as spam by the
honeypot or the fill time keeps only their names: no bytes of a bot's post
are ever stored.
"""

import logging
import uuid
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from flask_babel import gettext as _
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from crm.core.errors import ServiceError
from crm.core.text import human_size
from crm.extensions import db
from crm.files import services as filebox
from crm.files.models import FORM
from crm.webforms import fields as catalogue
from crm.webforms.models import Submission, SubmissionFile, WebForm

log = logging.getLogger(__name__)

PENDING = "pending"
FILED = "filed"
DROPPED = "dropped"
# Spam reasons that keep no bytes: what a bot posts never reaches the disk.
NO_BYTES_REASONS = ("honeypot", "too_fast")
# How many files a field of several files takes from one submission.
MAX_FILES = 10


@dataclass
class Sent:
    """One file a visitor sent: in the request, waiting on disk, or not kept."""

    name: str
    size: int
    upload: object = None  # the request's stream
    pending: SubmissionFile | None = None

    @property
    def kept(self) -> bool:
        return self.upload is not None or (
            self.pending is not None and self.pending.state == PENDING
        )

    def open(self):
        """The bytes as a stream, from the start (a context manager)."""
        if self.upload is not None:
            self.upload.seek(0)
            return nullcontext(self.upload)
        try:
            return path_of(self.pending).open("rb")
        except OSError:
            log.error(
                "pending file %s of submission %s has no bytes (%s)",
                self.pending.id,
                self.pending.submission_id,
                self.pending.stored_name,
            )
            raise ServiceError(
                _(
                    "The file %(name)s that came with this submission is missing "
                    "on the server.",
                    name=self.name,
                ),
                self.pending.field_key,
            ) from None


def file_rows(form: WebForm) -> list:
    """The form's file fields, in order."""
    return [row for row in form.fields if catalogue.is_file(row.key)]


def pending_dir() -> Path:
    """Where pending files wait: a folder inside the file box's own folder."""
    folder = filebox.files_dir() / "pending"
    folder.mkdir(exist_ok=True)
    return folder


def path_of(row: SubmissionFile) -> Path:
    return pending_dir() / row.stored_name


def from_request(storages) -> list[Sent]:
    """The files of one field of a multipart request (werkzeug FileStorage)."""
    sent = []
    for storage in storages:
        if storage is None:
            continue
        stream = storage.stream
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(0)
        # A browser sends a nameless empty part for a file input left empty;
        # a file with a blank name but bytes is still a file.
        if not storage.filename and size == 0:
            continue
        sent.append(Sent(filebox.display_name(storage.filename), size, upload=stream))
    return sent


def from_submission(submission: Submission) -> dict[str, list[Sent]]:
    """The files a stored submission carries, by field key."""
    by_key = {}
    for row in submission.files:
        by_key.setdefault(row.field_key, []).append(
            Sent(row.name, row.size, pending=row)
        )
    return by_key


def check(row, sent: list[Sent]) -> list[Sent]:
    """The files of one file field, checked; raises ServiceError naming the field."""
    if not sent:
        if row.required:
            raise ServiceError(_("%(label)s is required.", label=row.label), row.key)
        return []
    if len(sent) > 1 and not row.multiple:
        raise ServiceError(
            _("%(label)s takes one file; choose only one.", label=row.label), row.key
        )
    if len(sent) > MAX_FILES:
        raise ServiceError(
            _(
                "%(label)s takes up to %(count)s files; choose fewer.",
                label=row.label,
                count=MAX_FILES,
            ),
            row.key,
        )
    per_file, _per_box = filebox.limits()
    for one in sent:
        if not one.kept:
            continue
        if one.size == 0:
            raise _empty(row, one.name)
        if one.size > per_file:
            raise _too_large(row, one.name, per_file)
    return sent


def _empty(row, name) -> ServiceError:
    return ServiceError(_("%(name)s is empty; it was not kept.", name=name), row.key)


def _too_large(row, name, limit) -> ServiceError:
    return ServiceError(
        _(
            "%(name)s is too large (limit %(limit)s per file); it was not kept.",
            name=name,
            limit=human_size(limit),
        ),
        row.key,
    )


def total_problem(form: WebForm, checked: dict) -> tuple[str, str] | None:
    """(field key, message) when all the files together exceed one file box."""
    rows = file_rows(form)
    total = sum(
        one.size for row in rows for one in checked.get(row.key) or () if one.kept
    )
    _per_file, per_box = filebox.limits()
    if total <= per_box:
        return None
    return rows[-1].key, _(
        "The files come to %(total)s, more than the %(limit)s one person's files "
        "may take in all; nothing was kept.",
        total=human_size(total),
        limit=human_size(per_box),
    )


def keep_pending(submission: Submission, form: WebForm, checked: dict) -> None:
    """Write the request's files to disk as pending files of ``submission``.

    Each is copied under a generated name with the per-file limit enforced
    while it streams; the bytes go again if the transaction rolls back.
    """
    per_file, _per_box = filebox.limits()
    for row in file_rows(form):
        for one in checked.get(row.key) or ():
            stored = uuid.uuid4().hex
            target = pending_dir() / stored
            with one.open() as stream:
                copied = filebox.copy_limited(stream, target, per_file)
            if copied is None:
                raise _too_large(row, one.name, per_file)
            filebox.remove_if_rolled_back(target)
            size, head = copied
            if size == 0:
                raise _empty(row, one.name)
            submission.files.append(
                SubmissionFile(
                    field_key=row.key,
                    name=one.name,
                    size=size,
                    content_type=filebox.detect_type(head),
                    state=PENDING,
                    stored_name=stored,
                )
            )
            log.info(
                "web form %s: %s (%s bytes) kept pending as %s",
                form.id,
                one.name,
                size,
                stored,
            )


def room_for_held(form: WebForm, checked: dict, limit: int) -> bool:
    """Whether a held submission's files fit beside the other held ones.

    Rate-held submissions wait for a person; their bytes wait with them.
    Without a cap, one address could fill the disk at the rate limit.
    """
    sent = sum(
        one.size for row in file_rows(form) for one in checked.get(row.key) or ()
    )
    if not sent:
        return True
    waiting = db.session.scalar(
        select(func.coalesce(func.sum(SubmissionFile.size), 0))
        .join(Submission, Submission.id == SubmissionFile.submission_id)
        .where(SubmissionFile.state == PENDING, Submission.state == "held")
    )
    if waiting + sent <= limit:
        return True
    log.warning(
        "web form %s: held files take %s bytes; %s more would pass the %s allowed,"
        " so only their names are kept",
        form.id,
        waiting,
        sent,
        limit,
    )
    return False


def note_dropped(submission: Submission, form: WebForm, checked: dict) -> None:
    """Keep only the names and sizes of the request's files (spam: no bytes)."""
    for row in file_rows(form):
        for one in checked.get(row.key) or ():
            submission.files.append(
                SubmissionFile(
                    field_key=row.key, name=one.name, size=one.size, state=DROPPED
                )
            )


def into_file_box(form, contact, submission, checked) -> tuple[list, list]:
    """Add the submission's files to the contact's file box: (kept, not kept names).

    Private, uploaded by nobody, with the form's name as their source. A file
    the box refuses (full, too large, empty) raises ServiceError naming its
    field, and the caller's rollback undoes every file of the submission.
    Pending files of a field the form no longer has are added too.
    """
    keys = [row.key for row in file_rows(form)]
    sent = [(key, one) for key in keys for one in checked.get(key) or ()]
    # Files waiting for a field taken off the form since are the visitor's
    # too: they go to the box rather than stay on disk for nothing.
    sent += [
        (record.field_key, Sent(record.name, record.size, pending=record))
        for record in submission.files
        if record.state == PENDING and record.field_key not in keys
    ]
    kept, not_kept = [], []
    for key, one in sent:
        if not one.kept:
            not_kept.append(one.name)
            continue
        with one.open() as stream:
            try:
                added = filebox.add_file(
                    contact,
                    name=one.name,
                    stream=stream,
                    source=FORM,
                    source_name=form.name,
                )
            except filebox.FileRefused as exc:
                raise ServiceError(exc.message, key) from None
        record = one.pending
        if record is None:
            record = SubmissionFile(field_key=key, name=one.name)
            submission.files.append(record)
        else:
            filebox.remove_when_committed([path_of(record)])
        record.size = added.size
        record.content_type = added.content_type
        record.state = FILED
        record.stored_name = None
        record.contact_file_id = added.id
        kept.append(added.name)
    return kept, not_kept


def drop(submission: Submission) -> None:
    """Delete the bytes of the submission's pending files (once committed)."""
    for row in submission.files:
        if row.state == PENDING and row.stored_name:
            filebox.remove_when_committed([path_of(row)])
            row.stored_name = None
            row.state = DROPPED
            log.info("submission %s: pending file %s dropped", submission.id, row.id)


@event.listens_for(SubmissionFile, "before_delete")
def _pending_bytes_go_with_the_row(mapper, connection, row) -> None:
    if row.stored_name:
        filebox.remove_when_committed(
            [path_of(row)], session=Session.object_session(row)
        )


@event.listens_for(WebForm, "before_delete")
def _pending_bytes_go_with_the_form(mapper, connection, form) -> None:
    # The form's submissions go by the foreign key's cascade, not the ORM.
    names = connection.scalars(
        select(SubmissionFile.stored_name)
        .join(Submission, Submission.id == SubmissionFile.submission_id)
        .where(Submission.form_id == form.id, SubmissionFile.stored_name.is_not(None))
    ).all()
    if names:
        folder = pending_dir()
        filebox.remove_when_committed(
            [folder / name for name in names], session=Session.object_session(form)
        )
