"""Imports from the admin screen: upload, settings, dry run, then steps.

The upload is stored under the upload folder with a random name and an
ImportJob row keeps the choices and the progress. Each step opens the file
again, processes the next rows and records where it stopped, so a long
import needs no background thread: the page calls the step endpoint until
the job is done. Services flush; the view commits once per request.

The problems a dry run or a step finds are stored in English, whoever runs
it, and shown in each reader's language with ``stored_message``.
"""

import logging
import secrets
from pathlib import Path

from flask import current_app
from flask_babel import gettext as _
from sqlalchemy import select

from crm.access import policy
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.core.text import stored_message
from crm.extensions import db
from crm.imports import engine, presets, reading
from crm.imports.language import problems_in_english
from crm.imports.models import CHECKED, DONE, FAILED, RUNNING, UPLOADED, ImportJob
from crm.imports.rows import ISO_DATE, check_date_format

log = logging.getLogger(__name__)

DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y", "%d-%m-%Y")


def upload_dir() -> Path:
    """The folder that holds uploaded import files."""
    base = current_app.config.get("UPLOAD_DIR") or (
        Path(current_app.instance_path) / "uploads"
    )
    folder = Path(base) / "imports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _path(job: ImportJob) -> Path:
    return upload_dir() / job.stored_name


def get_job(job_id, user) -> ImportJob | None:
    """The job, when it exists and the user may see it."""
    try:
        job_id = int(job_id)
    except (TypeError, ValueError):
        return None
    return db.session.scalar(
        select(ImportJob).where(ImportJob.id == job_id, policy.scope(ImportJob, user))
    )


def recent_jobs(user, limit: int = 10) -> list[ImportJob]:
    """The user's latest imports, newest first."""
    query = (
        select(ImportJob)
        .where(policy.scope(ImportJob, user), ImportJob.user_id == user.id)
        .order_by(ImportJob.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def _options(job: ImportJob, **changes) -> engine.ImportOptions:
    saved = dict(job.options or {})
    saved.update(changes)
    return engine.ImportOptions(
        preset=saved.get("preset"),
        mapping=saved.get("mapping"),
        on_duplicate=saved.get("on_duplicate", "update"),
        date_format=saved.get("date_format", ISO_DATE),
        encoding=saved.get("encoding"),
        delimiter=saved.get("delimiter"),
    )


def open_job_file(job: ImportJob, **changes) -> engine.ContactFile:
    """The job's file opened with its saved choices (and ``changes``)."""
    try:
        data = _path(job).read_bytes()
    except FileNotFoundError:
        raise ServiceError(
            _("The uploaded file is no longer there; upload it again.")
        ) from None
    return engine.open_file(data, _options(job, **changes))


def sample(
    job: ImportJob, contact_file: engine.ContactFile, limit: int = 5, actor=None
):
    """The first rows of the job's file as ``actor``'s import would read them."""
    return engine.preview_contacts(
        contact_file, _options(job), limit, actor=actor, owner=actor
    )


def create_job(data: bytes, file_name: str, user) -> ImportJob:
    """Store an upload and open it; ReadError when it is not a contact file."""
    engine.check_permission(user, None)
    reading.check_size(len(data), current_app.config["IMPORT_MAX_BYTES"])
    contact_file = engine.open_file(data)

    stored = secrets.token_hex(16)
    (upload_dir() / stored).write_bytes(data)
    job = ImportJob(
        user_id=user.id,
        file_name=(file_name or "")[:255],
        stored_name=stored,
        size=len(data),
        state=UPLOADED,
        problems=[],
    )
    _remember(job, contact_file, {"date_format": ISO_DATE, "on_duplicate": "update"})
    db.session.add(job)
    db.session.flush()
    log.info("import %s uploaded by %s: %s", job.id, user.email, job.file_name)
    return job


def _remember(job: ImportJob, contact_file: engine.ContactFile, options: dict):
    job.kind = contact_file.kind
    job.encoding = contact_file.encoding
    job.delimiter = contact_file.delimiter
    job.preset = contact_file.preset
    job.total = contact_file.total
    saved = dict(job.options or {})
    saved.update(options)
    saved["mapping"] = contact_file.mapping if contact_file.kind == engine.CSV else None
    saved["preset"] = contact_file.preset
    job.options = saved
    job.updated_at = utcnow()


def apply_settings(job: ImportJob, *, encoding, delimiter, preset) -> bool:
    """Read the file again with another encoding, delimiter or preset.

    Returns True when something changed; the column mapping then starts again
    from the preset.
    """
    _check_editable(job)
    saved = job.options or {}
    wanted = {"encoding": encoding or None, "delimiter": delimiter or None}
    changed = any(wanted[k] != saved.get(k) for k in wanted)
    if job.kind == engine.CSV and preset and preset != job.preset:
        changed = True
    if not changed:
        return False
    wanted["preset"] = (preset or job.preset) if job.kind == engine.CSV else None
    contact_file = open_job_file(job, mapping=None, **wanted)
    _remember(job, contact_file, {k: v for k, v in wanted.items() if k != "preset"})
    job.state = UPLOADED
    job.dry_run_counts = None
    job.problems = []
    job.problem_count = 0
    return True


def set_choices(job: ImportJob, *, mapping, date_format, on_duplicate) -> None:
    """Keep the user's column mapping, date format and duplicate choice."""
    _check_editable(job)
    if on_duplicate not in engine.DUPLICATE_MODES:
        raise ServiceError(_("Choose update, skip or create for duplicates."))
    date_format = check_date_format(date_format)
    saved = dict(job.options or {})
    if job.kind == engine.CSV:
        contact_file = open_job_file(job)
        saved["mapping"] = engine.check_mapping(mapping, contact_file.headers)
        if not presets.has_identity(saved["mapping"]):
            raise ServiceError(
                _("Map at least one column to a name, company, e-mail or phone.")
            )
    saved["date_format"] = date_format
    saved["on_duplicate"] = on_duplicate
    job.options = saved
    job.updated_at = utcnow()


def _check_editable(job: ImportJob) -> None:
    if job.state in (RUNNING, DONE):
        raise ServiceError(_("This import has already started; its settings are kept."))


def dry_run(job: ImportJob, actor) -> engine.ImportResult:
    """Check every row with the saved choices; write no contact."""
    options = _options(job)
    options.dry_run = True
    # A vCard's broken cards are found while the file is opened: in English too.
    with problems_in_english():
        contact_file = open_job_file(job)
        importer = engine.Importer(contact_file, options, actor=actor, owner=actor)
        importer.run()
    result = importer.result
    job.state = CHECKED
    job.dry_run_counts = result.counts()
    job.problems = [p.as_dict() for p in result.problems]
    job.problem_count = result.problem_count
    job.updated_at = utcnow()
    return result


def start(job: ImportJob) -> None:
    """Mark the job to run; the steps do the work."""
    _check_editable(job)
    job.state = RUNNING
    job.cursor = None
    job.done = 0
    job.rows_read = job.created = job.updated = job.skipped = job.failed = 0
    job.problems = []
    job.problem_count = 0
    job.updated_at = utcnow()
    log.info("import %s started by user %s", job.id, job.user_id)


def step(job: ImportJob, actor, max_rows: int | None = None) -> ImportJob:
    """Process the next rows of a running job and record where it stopped."""
    if job.state != RUNNING:
        return job
    # Claim the job first: a second request for the same step fails here on
    # the version check instead of importing the same rows again.
    job.updated_at = utcnow()
    db.session.flush()

    max_rows = max_rows or current_app.config["IMPORT_STEP_ROWS"]
    options = _options(job)
    try:
        with problems_in_english():
            contact_file = open_job_file(job)
            importer = engine.Importer(contact_file, options, actor=actor, owner=actor)
            cursor = importer.run(
                cursor=tuple(job.cursor) if job.cursor else None, max_rows=max_rows
            )
    except ServiceError as exc:
        job.state = FAILED
        job.message = exc.message
        _remove_file(job)
        return job

    result = importer.result
    job.rows_read += result.rows
    job.created += result.created
    job.updated += result.updated
    job.skipped += result.skipped
    job.failed += result.failed
    room = engine.MAX_PROBLEMS - len(job.problems or [])
    job.problems = list(job.problems or []) + [
        p.as_dict() for p in result.problems[: max(room, 0)]
    ]
    job.problem_count += result.problem_count
    job.cursor = list(cursor) if cursor else None
    job.done = contact_file.progress_of(cursor) if cursor else job.total
    if cursor is None:
        _finish(job, actor)
    return job


def _finish(job: ImportJob, actor) -> None:
    job.state = DONE
    job.finished_at = utcnow()
    result = engine.ImportResult(
        rows=job.rows_read,
        created=job.created,
        updated=job.updated,
        skipped=job.skipped,
        failed=job.failed,
    )
    engine.record_audit(actor, result, job.file_name)
    _remove_file(job)
    log.info("import %s finished: %s", job.id, job.summary())


def _remove_file(job: ImportJob) -> None:
    try:
        _path(job).unlink(missing_ok=True)
    except OSError:
        log.warning("could not remove the upload of import %s", job.id, exc_info=True)


def progress(job: ImportJob) -> dict:
    """The job's state as the progress page reads it."""
    return {
        "state": job.state,
        "percent": job.percent,
        "done": job.done,
        "total": job.total,
        "rows": job.rows_read,
        "created": job.created,
        "updated": job.updated,
        "skipped": job.skipped,
        "failed": job.failed,
        "summary": job.shown_summary(),
        "message": stored_message(job.message),
    }
