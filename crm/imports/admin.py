"""The "Import contacts" screen: upload, preview and mapping, dry run, steps."""

import logging

from flask import (
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_admin import expose
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from crm.access import policy
from crm.core.admin import SecuredView
from crm.core.errors import ServiceError
from crm.core.text import stored_message
from crm.extensions import db
from crm.imports import csvfile, engine, jobs, presets, reading
from crm.imports.models import CHECKED, DONE, FAILED, RUNNING, UPLOADED, ImportJob
from crm.imports.rows import ERROR, date_format_label

log = logging.getLogger(__name__)

PREVIEW_ROWS = 5
SHOWN_PROBLEMS = 200
DELIMITER_LABELS = {
    ",": _l("Comma (,)"),
    ";": _l("Semicolon (;)"),
    "\t": _l("Tab character"),
    "|": _l("Vertical bar (|)"),
}


class ImportView(SecuredView):
    """Upload a CSV or vCard file, check it and import it with progress."""

    def __init__(self, **kwargs):
        kwargs.setdefault("name", _l("Import contacts"))
        kwargs.setdefault("endpoint", "imports")
        kwargs.setdefault("url", "/admin/imports")
        super().__init__(**kwargs)

    def create_blueprint(self, admin):
        blueprint = super().create_blueprint(admin)
        blueprint.register_error_handler(413, _upload_too_large)
        return blueprint

    def is_accessible(self):
        return super().is_accessible() and policy.allowed(
            current_user, ImportJob, "create"
        )

    def _job(self, job_id) -> ImportJob:
        job = jobs.get_job(job_id, current_user)
        if job is None:
            abort(404)
        return job

    # Upload.
    @expose("/")
    def index(self):
        return self.render(
            "imports/upload.html",
            limit=reading.format_size(current_app.config["IMPORT_MAX_BYTES"]),
            recent=jobs.recent_jobs(current_user),
        )

    @expose("/upload", methods=("POST",))
    def upload(self):
        upload = request.files.get("file")
        if upload is None or not upload.filename:
            flash(_("Choose a CSV or vCard file to import."), "error")
            return redirect(url_for(".index"))
        limit = current_app.config["IMPORT_MAX_BYTES"]
        data = upload.stream.read(limit + 1)
        try:
            job = jobs.create_job(data, upload.filename, current_user)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return redirect(url_for(".index"))
        return redirect(url_for(".job", job_id=job.id))

    # Preview, mapping, dry run.
    @expose("/<int:job_id>/", methods=("GET", "POST"))
    def job(self, job_id):
        job = self._job(job_id)
        if job.state == RUNNING:
            return redirect(url_for(".progress", job_id=job.id))
        if request.method == "POST":
            return self._post_job(job)
        return self._render_job(job)

    def _post_job(self, job):
        action = request.form.get("action", "")
        try:
            changed = jobs.apply_settings(
                job,
                encoding=request.form.get("encoding", ""),
                delimiter=request.form.get("delimiter", ""),
                preset=request.form.get("preset", ""),
            )
            if changed or action == "apply":
                db.session.commit()
                flash(_("The file was read again; check the column mapping."), "info")
                return redirect(url_for(".job", job_id=job.id))
            jobs.set_choices(
                job,
                mapping=_posted_mapping(job),
                date_format=request.form.get("date_format", ""),
                on_duplicate=request.form.get("on_duplicate", "update"),
            )
            if action == "import":
                jobs.start(job)
                db.session.commit()
                return redirect(url_for(".progress", job_id=job.id))
            result = jobs.dry_run(job, current_user)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(stored_message(exc.message), "error")
            return redirect(url_for(".job", job_id=job.id))
        flash(
            _(
                "Dry run finished, nothing was written: %(summary)s.",
                summary=result.shown_summary(),
            ),
            "info",
        )
        return redirect(url_for(".job", job_id=job.id))

    def _render_job(self, job):
        contact_file = None
        preview = []
        sample = []
        if job.state in (UPLOADED, CHECKED):
            try:
                contact_file = jobs.open_job_file(job)
                sample = jobs.sample(job, contact_file, PREVIEW_ROWS, current_user)
            except ServiceError as exc:
                flash(exc.message, "error")
                # A saved mapping the file no longer accepts must not hide
                # the mapping table that can correct it.
                contact_file = _without_mapping(job)
            if contact_file is not None:
                preview = contact_file.preview(PREVIEW_ROWS)
        options = job.options or {}
        return self.render(
            "imports/job.html",
            job=job,
            contact_file=contact_file,
            preview=preview,
            sample=sample,
            mapping=options.get("mapping") or [],
            choices=presets.field_choices() + presets.custom_choices(),
            presets=presets.PRESETS,
            encodings=reading.CHOICES,
            chosen_encoding=options.get("encoding") or "",
            delimiters={d: str(DELIMITER_LABELS[d]) for d in csvfile.DELIMITERS},
            chosen_delimiter=options.get("delimiter") or "",
            date_format=options.get("date_format") or "%Y-%m-%d",
            date_formats=[(f, date_format_label(f)) for f in jobs.DATE_FORMATS],
            on_duplicate=options.get("on_duplicate") or "update",
            problems=shown_problems((job.problems or [])[:SHOWN_PROBLEMS]),
            editable=job.state in (UPLOADED, CHECKED),
            states={"done": DONE, "failed": FAILED, "checked": CHECKED},
        )

    # The run, step by step.
    @expose("/<int:job_id>/progress")
    def progress(self, job_id):
        job = self._job(job_id)
        if job.state != RUNNING:
            return redirect(url_for(".job", job_id=job.id))
        return self.render("imports/progress.html", job=job)

    @expose("/<int:job_id>/step", methods=("POST",))
    def step(self, job_id):
        job = self._job(job_id)
        try:
            jobs.step(job, current_user)
            db.session.commit()
        except StaleDataError:
            # Another request is running this step; report where it stands.
            db.session.rollback()
            job = self._job(job_id)
        except Exception:
            db.session.rollback()
            log.exception("import %s: step failed", job_id)
            job = self._job(job_id)
            job.state = FAILED
            with force_locale("en"):  # stored in English, shown via stored_message
                job.message = _(
                    "The import stopped because of an unexpected error, which was "
                    "logged. The rows imported so far are kept."
                )
            db.session.commit()
        if not _wants_json():
            if job.state == RUNNING:
                return redirect(url_for(".progress", job_id=job.id))
            return redirect(url_for(".job", job_id=job.id))
        data = jobs.progress(job)
        data["next"] = None if job.state == RUNNING else url_for(".job", job_id=job.id)
        return jsonify(data)


def _upload_too_large(error):
    """The error page for an upload over the request limit, naming the import's.

    The request limit (MAX_CONTENT_LENGTH) serves every upload of the app and
    is larger than the import limit, which is the one to tell here.
    """
    limit = reading.format_size(current_app.config["IMPORT_MAX_BYTES"])
    return render_template("errors/error.html", code=413, limit=limit), 413


def shown_problems(stored: list[dict]) -> list[dict]:
    """Stored problems for the table, in the reader's language.

    A row is imported or not as a whole: every problem of a row with an error
    is marked "not imported", even a warning about one of its values.
    """
    failed = {p["row"] for p in stored if p["level"] == ERROR}
    return [
        {
            **p,
            "message": stored_message(p["message"]),
            "row_failed": p["row"] in failed,
        }
        for p in stored
    ]


def _without_mapping(job):
    """The job's file read again with the preset's mapping, or None."""
    try:
        return jobs.open_job_file(job, mapping=None)
    except ServiceError:
        return None


def _wants_json() -> bool:
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "application/json"


def _posted_mapping(job) -> list[str] | None:
    if job.kind != engine.CSV:
        return None
    mapping = []
    count = len((job.options or {}).get("mapping") or [])
    for index in range(count):
        mapping.append(request.form.get(f"map-{index}", ""))
    return mapping


def views():
    yield ImportView()
