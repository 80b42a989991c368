"""flask contacts import FILE: import a CSV or vCard file from the shell."""

import logging
import sys

import click
from flask.cli import with_appcontext

from crm.core.errors import ServiceError
from crm.extensions import db
from crm.imports import engine, presets
from crm.imports.rows import ERROR

log = logging.getLogger(__name__)

# Problem lines printed before the summary; the rest are counted.
SHOWN_PROBLEMS = 50


def _owner(email):
    if not email:
        return None
    from crm.auth.services import find_by_email

    user = find_by_email(email)
    if user is None or not user.is_active:
        raise click.ClickException(f"There is no active user with the e-mail {email}.")
    return user


class _Progress:
    """A progress bar on stderr, created once the file's size is known."""

    def __init__(self):
        self.bar = None
        self.done = 0

    def __call__(self, done, total):
        if self.bar is None:
            self.bar = click.progressbar(
                length=max(total, 1), label="Importing", file=sys.stderr
            )
        self.bar.update(max(done - self.done, 0))
        self.done = done

    def finish(self):
        if self.bar is not None:
            self.bar.render_finish()


def _describe(result: engine.ImportResult, name: str) -> str:
    if result.kind == engine.VCARD:
        return f"Read {name}: vCard, {result.encoding}."
    delimiter = engine.csvfile.DELIMITER_NAMES.get(result.delimiter, "comma")
    return (
        f"Read {name}: CSV, {result.encoding}, {delimiter}-separated, "
        f"preset {result.preset}."
    )


def _problem_line(problem) -> str:
    where = f"row {problem.row}"
    if problem.column:
        where += f", column {problem.column}"
    suffix = " (row not imported)" if problem.level == ERROR else ""
    return f"{where}: {problem.message}{suffix}"


@click.command("import")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every row and report what would happen; write nothing.",
)
@click.option(
    "--preset",
    type=click.Choice(sorted(presets.PRESETS)),
    help="The source the CSV comes from; detected from the headers when omitted.",
)
@click.option(
    "--on-duplicate",
    type=click.Choice(engine.DUPLICATE_MODES),
    default="update",
    show_default=True,
    help=(
        "A row whose e-mail matches an existing contact: update fills that "
        "contact's blank fields, skip leaves it, create adds a new contact anyway."
    ),
)
@click.option(
    "--date-format",
    default="%Y-%m-%d",
    show_default=True,
    help="How CSV dates are written, e.g. %d/%m/%Y; read strictly.",
)
@click.option(
    "--encoding",
    help="The file's encoding (e.g. cp1252); detected when omitted.",
)
@click.option(
    "--owner",
    "owner_email",
    metavar="EMAIL",
    help=(
        "Import as this user: new contacts belong to them and the duplicate "
        "check sees only the contacts they may see. Without it the import runs "
        "as the system, sees every contact and leaves new contacts without owner."
    ),
)
@with_appcontext
def import_contacts(
    file, dry_run, preset, on_duplicate, date_format, encoding, owner_email
):
    """Import contacts from a CSV or vCard FILE.

    Ends with one line: created N, updated N, skipped N, failed N. The exit
    code is 0 when the file could be read (even if some rows failed), and 1
    with the reason when it could not.
    """
    owner = _owner(owner_email)
    options = engine.ImportOptions(
        preset=preset,
        on_duplicate=on_duplicate,
        date_format=date_format,
        encoding=encoding,
        dry_run=dry_run,
    )
    progress = _Progress()
    try:
        result = engine.run(
            file, actor=owner, owner=owner, options=options, progress=progress
        )
        if dry_run:
            db.session.rollback()
        else:
            db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    except Exception:
        db.session.rollback()
        log.exception("import of %s failed", file)
        raise click.ClickException(
            "The import failed unexpectedly and nothing was written; "
            "the error was logged."
        ) from None
    finally:
        progress.finish()

    click.echo(_describe(result, click.format_filename(file)))
    if result.unmapped:
        click.echo("Columns not imported: " + ", ".join(result.unmapped))
    for header, earlier in result.left_out:
        click.echo(
            f"Column {header} was not imported: column {earlier} fills the same field."
        )
    for problem in result.problems[:SHOWN_PROBLEMS]:
        click.echo(_problem_line(problem))
    hidden = result.problem_count - min(len(result.problems), SHOWN_PROBLEMS)
    if hidden > 0:
        click.echo(f"... and {hidden} more problems.")
    if dry_run:
        click.echo("Dry run: nothing was written.")
    click.echo(result.summary())
