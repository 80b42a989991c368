"""The import run: read a contact file, check every row, write in batches.

``run`` is the one entry point for the CLI, the demo loader and scripts; the
admin screen uses ``open_file`` and ``Importer`` to work through a file in
steps. Rows stream through in batches; each batch costs one duplicate query
(normalised e-mail across all three slots, within the acting user's scope),
one bulk insert of the new contacts and one load of the contacts to update.
A row with an error is left out and counted as failed; if a batch insert
fails, that batch is retried row by row in savepoints, so one bad row never
costs the others. Nothing commits here: the caller commits once (or rolls
back), as for every other service.
"""

import codecs
import gc
import logging
import os
import threading
import unicodedata
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select, text, true
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.exc import StaleDataError

from crm.access import policy
from crm.contacts import services as contact_services
from crm.contacts.bulk import ContactData, insert_contacts, tag_ids
from crm.contacts.models import (
    ADDRESS_PARTS,
    EMAIL_SLOTS,
    FAX_SLOTS,
    PHONE_SLOTS,
    Company,
    Contact,
    ContactAddress,
    ContactEmail,
    ContactPhone,
)
from crm.core.errors import ServiceError
from crm.core.text import clean, digits, fold, normalize_email
from crm.customfields.models import CustomField, CustomValue
from crm.extensions import db
from crm.imports import csvfile, models, presets, reading, vcard
from crm.imports.owners import OwnerResolver
from crm.imports.reading import ReadError
from crm.imports.rows import (
    ERROR,
    ISO_DATE,
    WARNING,
    Problem,
    RowBuilder,
    clean_cell,
)
from crm.mail import services as mail_services
from crm.tags.models import ContactTag

log = logging.getLogger(__name__)

DUPLICATE_MODES = ("update", "skip", "create")
DEFAULT_BATCH = 2000
# Problems kept in full; beyond this only their number is counted.
MAX_PROBLEMS = 1000

CSV = "csv"
VCARD = "vcard"
# Files from this size on are read from disk a line at a time when they are
# UTF-8 CSV (see open_streamed); smaller ones are read whole.
STREAM_FROM_BYTES = 4 * 1024 * 1024
_HEAD_BYTES = 256 * 1024


@dataclass
class ImportOptions:
    """How to read the file and what to do with duplicates."""

    preset: str | None = None  # keap, google, outlook, salesforce, generic
    mapping: list[str] | None = None  # one field key per column; None: the preset's
    on_duplicate: str = "update"  # update | skip | create
    date_format: str = ISO_DATE
    encoding: str | None = None  # None: detected
    delimiter: str | None = None  # None: detected
    dry_run: bool = False
    batch_size: int = DEFAULT_BATCH


@dataclass
class ImportResult:
    """What a run did (or, for a dry run, would do)."""

    kind: str = ""
    encoding: str = ""
    delimiter: str | None = None
    preset: str | None = None
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    skipped: int = 0
    failed: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int = 0
    unmapped: list[str] = field(default_factory=list)
    # "4 (Plan)", "3 (Plan)": each column the automatic mapping left out
    # because an earlier one fills the same field, and that earlier column.
    left_out: list[tuple[str, str]] = field(default_factory=list)

    def add_problem(self, problem: Problem) -> None:
        self.problem_count += 1
        if len(self.problems) < MAX_PROBLEMS:
            self.problems.append(problem)

    def summary(self) -> str:
        """The counts in the fixed English form the CLI ends with."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"skipped {self.skipped}, failed {self.failed}"
        )

    def shown_summary(self) -> str:
        """The counts in the reader's language."""
        return models.shown_summary(
            self.created, self.updated, self.skipped, self.failed
        )

    def counts(self) -> dict:
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": self.skipped,
            "failed": self.failed,
        }


# Reading.
def read_source(source, limit: int | None = None) -> tuple[bytes, str]:
    """The bytes and a display name of a path, file object or bytes.

    A file larger than ``limit`` (default IMPORT_MAX_BYTES) is refused before
    it is read.
    """
    limit = limit or current_app.config["IMPORT_MAX_BYTES"]
    if isinstance(source, bytes | bytearray):
        reading.check_size(len(source), limit)
        return bytes(source), ""
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        try:
            reading.check_size(path.stat().st_size, limit)
            return path.read_bytes(), path.name
        except FileNotFoundError:
            message = _("The file %(name)s does not exist.", name=str(path))
        except IsADirectoryError:
            message = _("%(name)s is a folder, not a file.", name=str(path))
        except PermissionError:
            message = _("The file %(name)s cannot be read.", name=str(path))
        raise ReadError(message)
    data = source.read(limit + 1)
    reading.check_size(len(data), limit)
    return data, getattr(source, "name", "") or ""


class ContactFile:
    """A decoded contact file: its kind, encoding, columns and records."""

    def __init__(self, data: bytes | None, options: ImportOptions, *, streamed=None):
        self.options = options
        if streamed is None and vcard.looks_like_vcard(data):
            self.kind = VCARD
            self.vcards = vcard.read(data, options.encoding)
            self.encoding = self.vcards.encoding
            self.fallback_encoding = self.vcards.fallback_encoding
            self.delimiter = None
            self.headers = []
            self.preset = None
            self.mapping = []
            self.left_out = []
            self.total = self.vcards.count
            return

        self.kind = CSV
        self.fallback_encoding = None
        # (column, earlier column) pairs the automatic mapping left out
        # because the earlier column already fills the same field.
        self.left_out: list[tuple[int, int]] = []
        if streamed is not None:
            self.encoding = streamed.encoding
            self.csv = streamed
            self.total = streamed.path.stat().st_size
        else:
            decoded = reading.decode(data, options.encoding)
            self.encoding = decoded.encoding
            self.csv = csvfile.open_csv(decoded.text, options.delimiter)
            self.total = len(decoded.text)
        self.delimiter = self.csv.delimiter
        self.headers = [clean_cell(h)[0].strip() for h in self.csv.headers]
        if options.preset and options.preset not in presets.PRESETS:
            raise ServiceError(
                _("There is no preset called %(name)s.", name=options.preset)
            )
        self.preset = options.preset or presets.detect_preset(self.headers)
        if options.mapping is not None:
            self.mapping = check_mapping(options.mapping, self.headers)
        else:
            sample = [cells for cells, _end in _take(self.csv.records(), 50)]
            mapping = presets.auto_mapping(self.headers, self.preset, sample)
            self.mapping, self.left_out = first_columns(mapping)
        if not presets.has_identity(self.mapping):
            raise ReadError(
                _(
                    "No column could be matched to a name, company, e-mail or "
                    "phone, so this is not a contact file the import can read. "
                    "Name the columns in the first row (for example First Name, "
                    "Last Name, Email)."
                )
            )

    def custom_keys(self) -> list[str]:
        """The custom-field keys the records may hold: the mapped columns' in a
        CSV; any contact field in a vCard, whose cards name their fields."""
        if self.kind == VCARD:
            return [f"custom:{i}" for i in db.session.scalars(select(CustomField.id))]
        return self.mapping

    @property
    def unmapped(self) -> list[str]:
        return [h for h, key in zip(self.headers, self.mapping, strict=True) if not key]

    def preview(self, limit: int = 5) -> list[list[str]]:
        """The first data rows as the file holds them (CSV only)."""
        if self.kind != CSV:
            return []
        return [cells for cells, _end in _take(self.csv.records(), limit)]

    def records(self, cursor: tuple[int, int] | None = None):
        """(row number, cells, problems, cursor after) from ``cursor`` on.

        A cursor is (offset, last row number): a character offset into a CSV
        text, a card index into a vCard file.
        """
        if self.kind == VCARD:
            start = cursor[0] if cursor else 0
            for index, (number, cells, problems) in enumerate(
                self.vcards.records(start), start=start + 1
            ):
                yield number, cells, problems, (index, number)
            return

        offset, row = cursor if cursor else (None, 1)
        restore = csvfile.restore_cell
        pairs = enumerate(zip(self.headers, self.mapping, strict=True))
        columns = [(i, k, h) for i, (h, k) in pairs if k]
        width = len(self.headers)
        start = self.csv.body_start if offset is None else offset
        file_end = self.csv.end
        for cells, end in self.csv.records(offset):
            row += 1
            begin, start = start, end
            if not "".join(cells).strip():
                continue
            unclosed = csvfile.open_quote_problem(
                cells,
                lambda b=begin, e=end: self.csv.raw(b, e),
                end >= file_end,
                self.delimiter,
            )
            if unclosed is not None:
                yield row, [], [_open_quote(row, *unclosed)], (end, row)
                continue
            mapped = [
                (k, h, restore(cells[i]) if cells[i][:1] == "'" else cells[i])
                for i, k, h in columns
                if i < len(cells)
            ]
            problems = []
            if len(cells) > width and any(c.strip() for c in cells[width:]):
                problems.append(
                    Problem(
                        row,
                        "",
                        _(
                            "The row has %(found)s values but the header has "
                            "%(width)s columns; the extra values were ignored.",
                            found=len(cells),
                            width=width,
                        ),
                        WARNING,
                    )
                )
            yield row, mapped, problems, (end, row)

    def progress_of(self, cursor) -> int:
        """How far into the file a cursor is, in the unit of ``total``."""
        if cursor is None:
            return 0
        return cursor[0]


def _open_quote(row: int, where: str, lines: int) -> Problem:
    if where == "end":
        message = _(
            "A quote opened in row %(row)s is not closed, so the rest of the file "
            "(%(lines)s lines) was read as one value. The row was not imported; "
            "close the quote and import the file again.",
            row=row,
            lines=lines,
        )
    else:
        message = _(
            "A quoted value that begins in row %(row)s runs over %(lines)s lines; "
            "its closing quote is probably missing. The row was not imported; "
            "check the quotes and import the file again.",
            row=row,
            lines=lines,
        )
    return Problem(row, "", message, ERROR)


def _take(iterator, n):
    for i, item in enumerate(iterator):
        if i >= n:
            return
        yield item


def first_columns(mapping: list[str]) -> tuple[list[str], list[tuple[int, int]]]:
    """The mapping with each single-value field kept for its first column only.

    Two columns may name one custom field (its label and its field name, or
    the same header twice). The later one is not imported; the pairs
    (column, earlier column) say which columns were left out for which.
    """
    kept = list(mapping)
    first: dict[str, int] = {}
    left_out = []
    for index, key in enumerate(mapping):
        if not key or key in presets.SCALAR_KEYS:
            continue
        if key in first:
            kept[index] = ""
            left_out.append((index, first[key]))
        else:
            first[key] = index
    return kept, left_out


def check_mapping(mapping: list[str], headers: list[str]) -> list[str]:
    """The mapping, when it has one known key per column and no slot twice."""
    if len(mapping) != len(headers):
        raise ServiceError(_("The column mapping does not match the file's columns."))
    seen = {}
    for header, key in zip(headers, mapping, strict=True):
        if not key:
            continue
        if not presets.known_key(key):
            raise ServiceError(_("%(key)s is not a field the import knows.", key=key))
        if key in seen and key not in presets.SCALAR_KEYS:
            raise ServiceError(
                _(
                    "The columns %(first)s and %(second)s are both mapped to the "
                    "same field; choose one.",
                    first=seen[key],
                    second=header,
                )
            )
        seen.setdefault(key, header)
    return list(mapping)


def open_file(data: bytes, options: ImportOptions | None = None) -> ContactFile:
    """Decode and inspect a contact file; ReadError when it cannot be imported."""
    return ContactFile(data, options or ImportOptions())


def open_streamed(source, options: ImportOptions) -> ContactFile | None:
    """A large UTF-8 CSV file on disk, read a line at a time; None otherwise.

    The import then holds one batch of rows, not the whole file and its
    decoded text (about three times the file's size for text with accents).
    Every other file (small, vCard, another encoding, one chosen by the
    user, anything unusual) returns None and is read whole by ``open_file``,
    which also gives the messages for files that cannot be read.
    """
    if not isinstance(source, str | os.PathLike) or options.encoding:
        return None
    path = Path(source)
    try:
        size = path.stat().st_size
        if not STREAM_FROM_BYTES <= size <= current_app.config["IMPORT_MAX_BYTES"]:
            return None
        with path.open("rb") as handle:
            head = handle.read(_HEAD_BYTES)
        if (
            vcard.looks_like_vcard(head)
            or head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            or reading.utf16_without_bom(head)
            or reading.looks_binary_bytes(head)
            or not _is_utf8(path)
        ):
            return None
    except OSError:
        return None
    text = codecs.getincrementaldecoder("utf-8")().decode(head).removeprefix("\ufeff")
    if reading.looks_binary(text):
        return None
    streamed = csvfile.open_streamed(path, "utf-8", text, options.delimiter)
    return ContactFile(None, options, streamed=streamed)


def _is_utf8(path: Path) -> bool:
    """Whether the whole file is UTF-8, read in chunks of 1 MB."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def preview_contacts(
    contact_file: ContactFile, options: ImportOptions, limit=5, actor=None, owner=None
):
    """The first rows as the import would read them: (row, data, problems).

    Nothing is written; the screen shows these before the dry run. Owner
    cells are checked as an import by ``actor`` for ``owner`` would check them.
    """
    builder = RowBuilder(
        date_format=ISO_DATE if contact_file.kind == VCARD else options.date_format,
        region=current_app.config["DEFAULT_PHONE_REGION"],
        custom_fields=_custom_fields(contact_file.custom_keys()),
        owners=OwnerResolver(actor, owner if owner is not None else actor),
    )
    found = []
    for row, cells, problems, _after in contact_file.records():
        data, more = builder.build(row, cells)
        found.append((row, data, problems + more))
        if len(found) >= limit:
            break
    return found


# Writing.
@dataclass
class _Pending:
    row: int
    data: ContactData
    keys: list[str]
    # Column label of each phone number, for warnings found on writing.
    phone_labels: dict = field(default_factory=dict)


class Importer:
    """Works through the records of one file, batch by batch.

    ``actor`` is the user whose access scope the duplicate check uses, or
    None for the system actor of the CLI, which sees every contact.
    """

    def __init__(
        self,
        contact_file: ContactFile,
        options: ImportOptions,
        *,
        actor=None,
        owner=None,
        result: ImportResult | None = None,
    ):
        if options.on_duplicate not in DUPLICATE_MODES:
            raise ServiceError(_("Choose update, skip or create for duplicates."))
        check_permission(actor, owner)
        self.file = contact_file
        self.options = options
        self.actor_id = actor.id if actor is not None else None
        self.actor = actor
        self.owner_id = owner.id if owner is not None else self.actor_id
        default_owner = owner if owner is not None else actor
        self.region = current_app.config["DEFAULT_PHONE_REGION"]
        self.builder = RowBuilder(
            date_format=ISO_DATE if contact_file.kind == VCARD else options.date_format,
            region=self.region,
            custom_fields=_custom_fields(contact_file.custom_keys()),
            # Phones the insert cannot read are reported after writing, in a
            # dry run too (see run).
            check_phones=False,
            owners=OwnerResolver(actor, default_owner),
            phone_types=presets.phone_types(contact_file.preset),
        )
        self.result = result or ImportResult()
        self.result.kind = contact_file.kind
        self.result.encoding = contact_file.encoding
        self.result.delimiter = contact_file.delimiter
        self.result.preset = contact_file.preset
        self.result.dry_run = options.dry_run
        self.result.unmapped = contact_file.unmapped
        named = [f"{i + 1} ({h})" for i, h in enumerate(contact_file.headers)]
        self.result.left_out = [(named[i], named[j]) for i, j in contact_file.left_out]
        self._failed_rows: set[int] = set()

    def run(self, cursor=None, max_rows: int | None = None, progress=None):
        """Process records from ``cursor``; return the cursor to resume at, or None.

        A dry run writes exactly as the run would, inside a savepoint that is
        rolled back at the end: a row that repeats a contact of an earlier
        batch then meets that contact as the run would, and the counts and
        problems are the run's own.
        """
        with fewer_collections():
            if not self.options.dry_run:
                return self._run(cursor, max_rows, progress)
            open_transaction()
            rehearsal = db.session.begin_nested()
            try:
                return self._run(cursor, max_rows, progress)
            finally:
                rehearsal.rollback()

    def _run(self, cursor, max_rows, progress):
        batch: list[_Pending] = []
        done = 0
        for row, cells, problems, after in self.file.records(cursor):
            self.result.rows += 1
            done += 1
            self._collect(row, cells, problems, batch)
            if len(batch) >= self.options.batch_size:
                self._write(batch)
                batch = []
                if progress:
                    progress(self.file.progress_of(after))
            if max_rows and done >= max_rows:
                self._write(batch)
                self.result.problems.sort(key=lambda p: p.row)
                return after
        self._write(batch)
        if progress:
            progress(self.file.total)
        self.result.problems.sort(key=lambda p: p.row)
        return None

    def _collect(self, row, cells, problems, batch) -> None:
        phone_labels: dict[str, str] = {}
        data, row_problems = self.builder.build(row, cells, phone_labels)
        for problem in problems + row_problems:
            self.result.add_problem(problem)
        if any(p.level == ERROR for p in problems + row_problems):
            self.result.failed += 1
            return
        if data is None:
            self.result.skipped += 1
            self.result.add_problem(
                Problem(
                    row,
                    "",
                    _("The row has no values in the imported columns; it was skipped."),
                    WARNING,
                )
            )
            return
        # An owner cell that names a usable user has set owner_id already.
        data.fields.setdefault("owner_id", self.owner_id)
        keys = [normalize_email(e) for e in data.emails]
        batch.append(_Pending(row, data, keys, phone_labels))

    # One batch.
    def _write(self, batch: list[_Pending]) -> None:
        if not batch:
            return
        mode = self.options.on_duplicate
        creates, updates, merged = [], [], []
        if mode == "create":
            creates = batch
        else:
            existing = self._existing_ids({k for p in batch for k in p.keys})
            first_in_batch: dict[str, _Pending] = {}
            for pending in batch:
                match = next((existing[k] for k in pending.keys if k in existing), None)
                earlier = next(
                    (first_in_batch[k] for k in pending.keys if k in first_in_batch),
                    None,
                )
                if match is None and earlier is None:
                    creates.append(pending)
                    for key in pending.keys:
                        first_in_batch.setdefault(key, pending)
                elif mode == "skip":
                    self.result.skipped += 1
                elif match is not None:
                    updates.append((match, pending))
                else:
                    changed = self._merge_into(earlier, pending)
                    merged.append((earlier, pending, changed))
        self._insert(creates)
        kept = self._count_merged(merged)
        self._update(updates)
        if not self.options.dry_run:
            self._opt_out(creates + [p for _i, p in updates] + kept)

    def _count_merged(self, merged) -> list[_Pending]:
        """Count the rows merged into earlier rows of the batch; return the kept ones.

        A merged row shares the fate of the row it was merged into: when that
        one could not be saved, the merged row is not imported either.
        """
        kept = []
        for earlier, later, changed in merged:
            if earlier.row in self._failed_rows:
                self._failed(
                    later.row,
                    _(
                        "The row repeats the contact of row %(row)s, which could "
                        "not be saved.",
                        row=earlier.row,
                    ),
                )
            elif changed:
                self.result.updated += 1
                kept.append(later)
            else:
                self.result.skipped += 1
                kept.append(later)
        return kept

    def _opt_out(self, saved: list[_Pending]) -> None:
        """Opt out the addresses of the saved rows whose file says so.

        The status belongs to the address, so it is set as a user's opt-out
        is (admin opt-out, with a history row), after the rows are written.
        """
        for pending in saved:
            if not pending.data.email_opt_out or pending.row in self._failed_rows:
                continue
            for address in pending.data.emails:
                mail_services.opt_out(
                    address,
                    actor_id=self.actor_id,
                    reason="opted out in the imported file",
                )

    def _existing_ids(self, keys: set[str]) -> dict[str, int]:
        """Contacts the actor may edit, by normalised e-mail (the lowest id wins).

        A duplicate is updated, so only contacts the actor may change count as
        existing ones; a contact the actor may only view is never written.
        """
        keys.discard("")
        if not keys:
            return {}
        query = (
            select(ContactEmail.normalized, ContactEmail.contact_id)
            .join(Contact, Contact.id == ContactEmail.contact_id)
            .where(ContactEmail.normalized.in_(keys))
            .order_by(ContactEmail.contact_id)
        )
        if self.actor is not None:
            query = query.where(policy.scope(Contact, self.actor, policy.EDIT))
        found: dict[str, int] = {}
        for key, contact_id in db.session.execute(query):
            found.setdefault(key, contact_id)
        return found

    def _merge_into(self, earlier: _Pending, later: _Pending) -> bool:
        """A second row for a contact of the same batch fills its blanks.

        Returns whether it added anything; the caller counts the row once the
        earlier row is written.
        """
        target, source = earlier.data, later.data
        changed = False
        for key, value in source.fields.items():
            if value not in (None, "") and target.fields.get(key) in (None, ""):
                target.fields[key] = value
                changed = True
        if source.company and not target.company:
            target.company = source.company
            changed = True
        known = {normalize_email(e) for e in target.emails}
        for email in source.emails:
            key = normalize_email(email)
            if key not in known and len(target.emails) < EMAIL_SLOTS:
                target.emails.append(email)
                earlier.keys.append(key)
                known.add(key)
                changed = True
        for attr, limit in (("phones", PHONE_SLOTS), ("faxes", FAX_SLOTS)):
            have = getattr(target, attr)
            for phone in getattr(source, attr):
                new = not any(same_phone(phone["number"], p["number"]) for p in have)
                if new and len(have) < limit:
                    have.append(phone)
                    changed = True
        for kind, values in source.addresses.items():
            slot = address_slot(target.addresses, kind, values)
            if slot is None:
                continue
            if slot == "":
                self.warn(later.row, _address_left_out(values))
                continue
            target.addresses[slot] = dict(values)
            changed = True
        folded = {fold(t) for t in target.tags}
        extra_tags = [t for t in source.tags if fold(t) not in folded]
        target.tags += extra_tags
        changed = changed or bool(extra_tags)
        for field_id, value in source.custom.items():
            if field_id not in target.custom:
                target.custom[field_id] = value
                changed = True
        return changed

    def _insert(self, creates: list[_Pending]) -> None:
        if not creates:
            return
        rows = [p.data for p in creates]
        open_transaction()
        try:
            with db.session.begin_nested():
                ids = self._insert_rows(rows)
            self.result.created += len(rows)
            self._unread_phones(dict(zip(ids, creates, strict=True)))
            return
        except (SQLAlchemyError, ServiceError, ValueError) as exc:
            # Handled: each row is tried alone and a failing one is reported
            # on its row. One line; the traceback only at debug level.
            log.warning(
                "batch insert of %d rows failed (%s); retrying row by row",
                len(rows),
                _reason(exc),
            )
            log.debug("batch insert failure", exc_info=True)
        for pending in creates:
            try:
                with db.session.begin_nested():
                    [new_id] = self._insert_rows([pending.data])
                self.result.created += 1
                self._unread_phones({new_id: pending})
            except (SQLAlchemyError, ServiceError, ValueError) as exc:
                log.warning("row %s could not be saved: %s", pending.row, _reason(exc))
                self._failed(pending.row, _not_saved(exc))

    def _unread_phones(self, by_id: dict[int, _Pending]) -> None:
        """Warn about phones the insert could not read (their E.164 is empty)."""
        if not any(p.phone_labels for p in by_id.values()):
            return
        query = select(ContactPhone.contact_id, ContactPhone.number).where(
            ContactPhone.contact_id.between(min(by_id), max(by_id)),
            ContactPhone.e164.is_(None),
        )
        for contact_id, number in db.session.execute(query):
            pending = by_id.get(contact_id)
            if pending is not None:
                self._phone_warning(pending, number)

    def _phone_warning(self, pending: _Pending, number: str) -> None:
        self.result.add_problem(
            Problem(
                pending.row,
                pending.phone_labels.get(number, ""),
                _(
                    "%(value)s could not be read as a phone number; it was kept "
                    "as typed.",
                    value=number,
                ),
                WARNING,
            )
        )

    def _insert_rows(self, rows: list[ContactData]) -> list[int]:
        return insert_contacts(
            rows,
            owner_id=self.owner_id,
            actor_id=self.actor_id,
            source_type="IMPORT",
            region=self.region,
        )

    def _failed(self, row: int, message: str) -> None:
        self._failed_rows.add(row)
        self.result.failed += 1
        self.result.add_problem(Problem(row, "", message, ERROR))

    def _update(self, updates: list[tuple[int, _Pending]]) -> None:
        """Fill the blanks of matched contacts, each in its own savepoint."""
        if not updates:
            return
        open_transaction()
        self._apply_updates(updates)

    def _apply_updates(self, updates: list[tuple[int, _Pending]]) -> None:
        ids = {contact_id for contact_id, _p in updates}
        editable = (
            policy.scope(Contact, self.actor, policy.EDIT)
            if self.actor is not None
            else true()
        )
        contacts = {
            c.id: c
            for c in db.session.scalars(
                select(Contact)
                .where(Contact.id.in_(ids), editable)
                .options(
                    selectinload(Contact.emails),
                    selectinload(Contact.phones),
                    selectinload(Contact.faxes),
                    selectinload(Contact.billing_addresses),
                    selectinload(Contact.extra_addresses),
                    selectinload(Contact.tag_links),
                    selectinload(Contact.custom_values),
                )
            )
        }
        tags = tag_ids(t for _c, p in updates for t in p.data.tags)
        companies = _Companies(updates, contacts)
        if not self._update_together(updates, contacts, tags, companies):
            companies = _Companies(updates, contacts)
            for contact_id, pending in updates:
                contact = contacts.get(contact_id)
                self._update_one(contact, contact_id, pending, tags, companies)
        for contact in contacts.values():
            if contact in db.session:
                db.session.expunge(contact)

    def _update_together(self, updates, contacts, tags, companies) -> bool:
        """Fill the blanks of the whole batch in one savepoint and one flush.

        One flush per contact cost about 5 ms each. When any contact breaks a
        rule or its write fails, nothing of the batch is kept and False is
        returned, so each contact is then tried alone and only the bad rows
        fail. Warnings are held back until the batch has been written, so a
        retry does not report them twice.
        """
        done = []
        try:
            with db.session.begin_nested():
                for contact_id, pending in updates:
                    contact = contacts.get(contact_id)
                    if contact is None:
                        done.append((pending, None, False, None))
                        continue
                    warnings = _HeldWarnings(self.actor_id)
                    changed = fill_blanks(
                        contact, pending, warnings, tags, companies=companies
                    )
                    if changed:
                        contact_services.prepare(contact, self.actor)
                    done.append((pending, contact, changed, warnings))
                db.session.flush()
        except (ServiceError, SQLAlchemyError, StaleDataError):
            log.info("batch update of %d contacts failed; one by one", len(updates))
            for contact in contacts.values():
                db.session.expire(contact)
            return False

        for pending, contact, changed, warnings in done:
            if contact is None:
                # The match is made in the edit scope; this guards the write too.
                self._failed(pending.row, _("You may not change that contact."))
                continue
            for problem in warnings.found:
                self.result.add_problem(problem)
            if changed:
                self.result.updated += 1
                for number in _unread(contact, pending):
                    self._phone_warning(pending, number)
            else:
                self.result.skipped += 1
        return True

    def _update_one(self, contact, contact_id, pending, tags, companies) -> None:
        """Fill the blanks of one contact in its own savepoint."""
        if contact is None:
            # The match is made in the edit scope; this guards the write too.
            self._failed(pending.row, _("You may not change that contact."))
            return
        try:
            with db.session.begin_nested():
                changed = fill_blanks(contact, pending, self, tags, companies=companies)
                if changed:
                    contact_services.prepare(contact, self.actor)
                    db.session.flush()
                    unread = _unread(contact, pending)
        except ServiceError as exc:
            db.session.expire(contact)
            self._failed(pending.row, exc.message)
            return
        except (SQLAlchemyError, StaleDataError) as exc:
            db.session.expire(contact)
            log.warning("row %s: contact %s not updated", pending.row, contact_id)
            self._failed(pending.row, _not_saved(exc))
            return
        if changed:
            self.result.updated += 1
            for number in unread:
                self._phone_warning(pending, number)
        else:
            self.result.skipped += 1

    def warn(self, row: int, message: str) -> None:
        self.result.add_problem(Problem(row, "", message, WARNING))


class _Companies:
    """The companies a batch of updates may give to contacts without one.

    The existing ones are read in one query; a missing one is added to the
    session when a contact first needs it and written by the batch's flush.
    One query per company (``get_or_create_company``) flushed every pending
    change of the batch first, about 10 ms a call. Names are matched as
    everywhere else (``contact_services.company_ids``).
    """

    def __init__(self, updates, contacts):
        names = {
            clean(pending.data.company)
            for contact_id, pending in updates
            if pending.data.company
            and contact_id in contacts
            and contacts[contact_id].company_id is None
        }
        names.discard(None)
        self.by_key: dict[str, Company] = {}
        if names:
            with db.session.no_autoflush:
                ids = contact_services.company_ids(names)
                found = db.session.scalars(
                    select(Company).where(Company.id.in_(ids.values()))
                )
                self.by_key = {contact_services.company_key(c.name): c for c in found}

    def get(self, name: str | None) -> Company | None:
        """The company of that name, added to the session when it is new."""
        name = clean(name)
        if not name:
            return None
        key = contact_services.company_key(name)
        company = self.by_key.get(key)
        if company is None:
            company = self.by_key[key] = Company(name=name)
            db.session.add(company)
        return company


class _HeldWarnings:
    """Stands in for the importer in ``fill_blanks``: keeps its warnings for later."""

    def __init__(self, actor_id):
        self.actor_id = actor_id
        self.found: list[Problem] = []

    def warn(self, row: int, message: str) -> None:
        self.found.append(Problem(row, "", message, WARNING))


def _unread(contact: Contact, pending: _Pending) -> list[str]:
    """The row's numbers the contact now holds without an E.164 form."""
    return [
        p.number
        for p in list(contact.phones) + list(contact.faxes)
        if p.e164 is None and p.number in pending.phone_labels
    ]


# Allocations between young-generation collections during an import, and how
# rarely the older generations are looked at (Python's defaults: 700, 10, 10).
IMPORT_GC_THRESHOLDS = (10_000, 50, 100)


class _Collections:
    """The imports running in this process and the thresholds from before them.

    The thresholds belong to the process, and imports in two request threads
    (or a request and a job step) can overlap: the first to end must not
    restore them under the other, nor the last restore the raised ones.
    """

    lock = threading.Lock()
    running = 0
    before: tuple[int, ...] = ()


@contextmanager
def fewer_collections():
    """Run the cyclic garbage collector less often while rows are imported.

    With the default thresholds a 100,000-row import ran about 6,100
    collections, 46 of them full ones that walk every batch in memory: 1.1 s
    of CPU with wsgi.py's freeze of the start-up objects, 4.7 s without it.
    With these it runs about 330 and no full one (0.75 s). Rows leave little
    cyclic garbage; peak memory stays flat. The thresholds are restored when
    the last import running ends, also when it fails.
    """
    with _Collections.lock:
        if not _Collections.running:
            _Collections.before = gc.get_threshold()
            gc.set_threshold(*IMPORT_GC_THRESHOLDS)
        _Collections.running += 1
    try:
        yield
    finally:
        with _Collections.lock:
            _Collections.running -= 1
            if not _Collections.running:
                gc.set_threshold(*_Collections.before)


def same_phone(a: str, b: str) -> bool:
    """Whether two numbers are one line written two ways.

    '(0221) 9999123' and '+49 221 9999123' are: without leading zeros, the
    digits of one end the digits of the other (at least seven of them).
    """
    da, db_ = digits(a).lstrip("0"), digits(b).lstrip("0")
    if not da or not db_:
        return a.strip().casefold() == b.strip().casefold()
    if da == db_:
        return True
    short, long = sorted((da, db_), key=len)
    return len(short) >= 7 and long.endswith(short)


def open_transaction() -> None:
    """Make sure the database transaction has begun before a savepoint is set.

    Python's sqlite3 module (before 3.12) begins a transaction only before
    an INSERT, UPDATE or DELETE. A SAVEPOINT sent first starts one of its
    own, and releasing that savepoint commits: the caller could then no
    longer roll the import back. A statement that changes nothing opens the
    transaction properly.
    """
    connection = db.session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:
        connection.execute(text("UPDATE contacts SET id = id WHERE 1 = 0"))


def fill_blanks(
    contact: Contact, pending: _Pending, importer: Importer, tags, companies=None
) -> bool:
    """Copy the row's values into the contact's empty fields; True when any changed.

    A blank cell never clears a value, and a value already there is kept.
    ``companies`` (a ``_Companies``) finds the company named by the row;
    without it the company is looked up on its own.
    """
    data = pending.data
    changed = False
    for key, value in data.fields.items():
        if key == "owner_id" or value in (None, ""):
            continue
        if getattr(contact, key) in (None, ""):
            setattr(contact, key, value)
            changed = True
    if data.company and contact.company is None:
        if companies is not None:
            contact.company = companies.get(data.company)
        else:
            contact.company = contact_services.get_or_create_company(data.company)
        changed = True

    known = {e.normalized for e in contact.emails}
    for address in data.emails:
        key = normalize_email(address)
        if key in known:
            continue
        if len(contact.emails) >= EMAIL_SLOTS:
            importer.warn(
                pending.row,
                _(
                    "%(email)s was not added: the contact already has %(n)s e-mail "
                    "addresses.",
                    email=address,
                    n=EMAIL_SLOTS,
                ),
            )
            continue
        contact.emails.append(ContactEmail(address=address, normalized=key))
        known.add(key)
        changed = True

    for attr, kind, limit in (
        ("phones", "phone", PHONE_SLOTS),
        ("faxes", "fax", FAX_SLOTS),
    ):
        have = getattr(contact, attr)
        for phone in getattr(data, attr):
            if any(same_phone(phone["number"], p.number) for p in have):
                continue
            if len(have) >= limit:
                importer.warn(
                    pending.row,
                    _(
                        "%(number)s was not added: the contact has no free %(kind)s "
                        "slot.",
                        number=phone["number"],
                        kind=kind,
                    ),
                )
                continue
            have.append(
                ContactPhone(
                    kind=kind,
                    number=phone["number"],
                    type=phone.get("type"),
                    extension=phone.get("extension"),
                )
            )
            changed = True

    by_kind = {a.kind: a for a in contact.addresses}
    have = {kind: _address_parts(a) for kind, a in by_kind.items()}
    for kind, values in data.addresses.items():
        slot = address_slot(have, kind, values)
        if slot is None:
            continue
        if slot == "":
            importer.warn(pending.row, _address_left_out(values))
            continue
        address = by_kind.get(slot)
        if address is None:
            address = ContactAddress(kind=slot)
            if slot == "billing":
                contact.billing_addresses.append(address)
            else:
                contact.extra_addresses.append(address)
        for key, value in values.items():
            setattr(address, key, value)
        have[slot] = dict(values)
        changed = True

    have_tags = {link.tag_id for link in contact.tag_links}
    for name in data.tags:
        tag_id = tags.get(fold(name))
        if tag_id and tag_id not in have_tags:
            contact.tag_links.append(
                ContactTag(tag_id=tag_id, applied_by_id=importer.actor_id)
            )
            have_tags.add(tag_id)
            changed = True

    have_custom = {v.field_id for v in contact.custom_values}
    for field_id, value in data.custom.items():
        if field_id not in have_custom:
            contact.custom_values.append(CustomValue(field_id=field_id, value=value))
            changed = True
    return changed


# Where an address goes when its own slot is taken.
_SPARE_SLOTS = ("shipping", "other")


def _address_parts(address: ContactAddress) -> dict:
    return {key: getattr(address, key) for key in ADDRESS_PARTS}


def address_slot(have: dict[str, dict], kind: str, values: dict) -> str | None:
    """The address slot an incoming address fills; None when a slot holds it.

    An address is filled as a whole, never mixed with another: its own slot
    when that is empty, else the first free spare slot. "" when none is free.
    ``have`` holds the parts of the contact's addresses by kind.
    """

    def filled(parts):
        return any(parts.get(key) not in (None, "") for key in ADDRESS_PARTS)

    def holds_it(parts):
        # Every part the incoming address has, the slot has the same.
        return all(
            _loose(parts.get(key)) == _loose(value)
            for key, value in values.items()
            if value not in (None, "")
        )

    if any(filled(parts) and holds_it(parts) for parts in have.values()):
        return None
    for slot in (kind, *(k for k in _SPARE_SLOTS if k != kind)):
        if not filled(have.get(slot) or {}):
            return slot
    return ""


_TRANSLITERATED = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue"})


def _loose(value) -> str:
    """Text as compared between two spellings of one address.

    Heidestraße and Heidestrasse, Köln and Koeln, "1 Main St." and "1 main st"
    are the same; accents, case, spaces and punctuation do not count.
    """
    text = fold(str(value or "")).translate(_TRANSLITERATED)
    text = unicodedata.normalize("NFKD", text)
    return "".join(c for c in text if c.isalnum())


def _address_left_out(values: dict) -> str:
    text = ", ".join(
        str(values[key]) for key in ADDRESS_PARTS if values.get(key) not in (None, "")
    )
    return _(
        "The address %(address)s was not added: the contact's addresses are all "
        "filled.",
        address=text,
    )


def _custom_fields(mapping: list[str]) -> dict[int, CustomField]:
    ids = {int(k[7:]) for k in mapping if k.startswith("custom:")}
    if not ids:
        return {}
    found = db.session.scalars(select(CustomField).where(CustomField.id.in_(ids)))
    fields = {f.id: f for f in found}
    missing = ids - fields.keys()
    if missing:
        raise ServiceError(_("A custom field of the mapping no longer exists."))
    return fields


def _not_saved(exc: Exception) -> str:
    return _("The contact could not be saved: %(reason)s", reason=_reason(exc))


def _reason(exc: Exception) -> str:
    if isinstance(exc, ServiceError):
        return exc.message
    text = str(getattr(exc, "orig", None) or exc).splitlines()[0]
    return text[:200]


def check_permission(actor, owner) -> None:
    """ServiceError unless the actor may import (and give contacts to ``owner``)."""
    contact_services.check_owner(owner)
    if actor is None:
        return
    if not policy.allowed(actor, Contact, "import"):
        raise ServiceError(_("You may not import contacts."))
    if owner is not None and owner.id != actor.id:
        from crm.access.services import can_reassign

        if not can_reassign(actor):
            raise ServiceError(_("You may not import contacts for another owner."))


def record_audit(actor, result: ImportResult, name: str) -> None:
    """Note a finished (not dry) import in the audit log."""
    from crm.access import audit

    audit.record(
        audit.IMPORTED,
        actor=actor,
        target_type="contact",
        details={"file": name, **result.counts()},
    )


def run(
    source,
    *,
    actor=None,
    owner=None,
    options: ImportOptions | None = None,
    progress: Callable[[int, int], None] | None = None,
    name: str = "",
) -> ImportResult:
    """Import a contact file (CSV or vCard) and return what happened.

    ``source`` is a path, an open binary file or the bytes themselves; a file
    over IMPORT_MAX_BYTES is refused before it is read. ``actor`` is the
    user the import acts for: the duplicate check sees only the contacts
    that user may see. None is the system actor, which sees every contact
    (the CLI without --owner, the demo loader). New contacts belong to
    ``owner`` (default: the actor). ``progress(done, total)`` is called after
    each batch.

    The caller commits. A dry run (``options.dry_run``) checks every row and
    counts what would happen without writing anything. Raises ReadError (a
    ServiceError) with one sentence when the file cannot be read at all; row
    problems never raise, they are listed in ``result.problems``.
    """
    options = options or ImportOptions()
    contact_file = open_streamed(source, options)
    if contact_file is not None:
        source_name = Path(source).name
    else:
        data, source_name = read_source(source)
        contact_file = open_file(data, options)
        del data  # the decoded text or cards are all the import reads
    importer = Importer(contact_file, options, actor=actor, owner=owner)

    def report(done):
        if progress:
            progress(done, contact_file.total)

    importer.run(progress=report)
    result = importer.result
    if not options.dry_run:
        record_audit(actor, result, name or source_name)
    log.info(
        "import of %s by %s: %s%s",
        name or source_name or "bytes",
        getattr(actor, "email", "system"),
        result.summary(),
        " (dry run)" if options.dry_run else "",
    )
    return result
