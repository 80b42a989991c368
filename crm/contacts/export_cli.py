"""flask contacts export: the contact list as CSV or vCard, from the shell."""

import sys
from contextlib import nullcontext

import click
from flask.cli import with_appcontext
from sqlalchemy import select

from crm.access import policy
from crm.auth import services as users
from crm.contacts.cli import contacts_cli
from crm.contacts.export import Counted, contacts_in, csv_chunks, vcard_chunks
from crm.contacts.models import Contact


@contacts_cli.command("export")
@click.option(
    "--format",
    "export_format",
    type=click.Choice(["csv", "vcf"]),
    required=True,
    help="csv (UTF-8 with BOM, formulas neutralised) or vcf (vCard 3.0).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, writable=True),
    default="-",
    help="The file to write; standard output when omitted.",
)
@click.option(
    "--user",
    "user_email",
    metavar="EMAIL",
    help="Export only the contacts this user may see. Without it, every "
    "contact in the database is exported.",
)
@with_appcontext
def export_contacts(export_format, output, user_email):
    """Export contacts as CSV or vCard 3.0, oldest first.

    Without --user the export runs as the system and holds every contact;
    with --user it holds what that user's contact list can show.
    """
    statement = select(Contact).order_by(Contact.id)
    if user_email:
        user = users.find_by_email(user_email)
        if user is None:
            raise click.ClickException(f"No user has the e-mail {user_email}.")
        if not user.is_active:
            raise click.ClickException(f"The user {user.email} is deactivated.")
        statement = statement.where(policy.scope(Contact, user))

    contacts = Counted(contacts_in(statement))
    chunks = csv_chunks(contacts) if export_format == "csv" else vcard_chunks(contacts)
    try:
        with _open_output(output) as out:
            for chunk in chunks:
                out.write(chunk.encode("utf-8"))
            out.flush()
    except OSError as exc:
        raise click.ClickException(
            f"Cannot write {output}: {exc.strerror or exc}."
        ) from None
    click.echo(f"exported {contacts.count} contacts", err=True)


def _open_output(output):
    # Bytes, so the file is UTF-8 whatever the terminal's encoding is.
    if output == "-":
        sys.stdout.flush()
        return nullcontext(sys.stdout.buffer)
    return open(output, "wb")
