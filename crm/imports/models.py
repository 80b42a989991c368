"""An import started from the admin screen, worked through in steps."""

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.core.db import UTCDateTime, utcnow
from crm.extensions import db

UPLOADED = "uploaded"
CHECKED = "checked"
RUNNING = "running"
DONE = "done"
FAILED = "failed"
STATES = (UPLOADED, CHECKED, RUNNING, DONE, FAILED)
STATE_LABELS = {
    UPLOADED: _l("Uploaded"),
    CHECKED: _l("Checked"),
    RUNNING: _l("Running"),
    DONE: _l("Done"),
    FAILED: _l("Failed"),
}


class ImportJob(db.Model):
    __tablename__ = "import_jobs"
    __table_args__ = (
        CheckConstraint(
            "state IN ('uploaded', 'checked', 'running', 'done', 'failed')",
            name="state",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Two step requests for one job must not both run: each step bumps this.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    # The name the browser sent; metadata only, never a path.
    file_name: Mapped[str] = mapped_column(String(255), default="")
    # A random name under the upload folder.
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    size: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(10), default="csv")
    encoding: Mapped[str] = mapped_column(String(40), default="")
    delimiter: Mapped[str | None] = mapped_column(String(2))
    preset: Mapped[str | None] = mapped_column(String(20))
    # Mapping, date format, duplicate mode and the user's encoding choice.
    options: Mapped[dict] = mapped_column(JSON, default=dict)
    state: Mapped[str] = mapped_column(String(10), default=UPLOADED)
    cursor: Mapped[list | None] = mapped_column(JSON)
    total: Mapped[int] = mapped_column(Integer, default=0)
    done: Mapped[int] = mapped_column(Integer, default=0)
    rows_read: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    problems: Mapped[list] = mapped_column(JSON, default=list)
    problem_count: Mapped[int] = mapped_column(Integer, default=0)
    # The dry run's counts, shown next to the Import button.
    dry_run_counts: Mapped[dict | None] = mapped_column(JSON)
    message: Mapped[str | None] = mapped_column(Text)
    created_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    updated_at = mapped_column(UTCDateTime, default=utcnow, nullable=False)
    finished_at = mapped_column(UTCDateTime)

    user = relationship("User")

    __mapper_args__ = {"version_id_col": version}

    @property
    def state_label(self) -> str:
        """The state in the reader's language."""
        return str(STATE_LABELS[self.state])

    @property
    def percent(self) -> int:
        if self.state == DONE:
            return 100
        if not self.total:
            return 0
        return min(99, int(100 * self.done / self.total))

    def summary(self) -> str:
        """The counts in the fixed English form of the log and the CLI."""
        return (
            f"created {self.created}, updated {self.updated}, "
            f"skipped {self.skipped}, failed {self.failed}"
        )

    def shown_summary(self) -> str:
        """The counts in the reader's language."""
        return shown_summary(self.created, self.updated, self.skipped, self.failed)

    def shown_dry_run(self) -> str:
        """What the dry run found the import would do, in the reader's language."""
        counts = self.dry_run_counts or {}
        return dry_run_summary(**{key: counts.get(key, 0) for key in COUNT_KEYS})

    def __str__(self) -> str:
        return self.file_name or f"Import {self.id}"


def shown_summary(created, updated, skipped, failed) -> str:
    """Import counts as a sentence in the reader's language."""
    return _(
        "created %(created)s, updated %(updated)s, skipped %(skipped)s, "
        "failed %(failed)s",
        created=created,
        updated=updated,
        skipped=skipped,
        failed=failed,
    )


COUNT_KEYS = ("created", "updated", "skipped", "failed")


def dry_run_summary(created, updated, skipped, failed) -> str:
    """Dry-run counts as a sentence in the reader's language."""
    return _(
        "would create %(created)s, update %(updated)s, skip %(skipped)s; "
        "%(failed)s would fail",
        created=created,
        updated=updated,
        skipped=skipped,
        failed=failed,
    )
