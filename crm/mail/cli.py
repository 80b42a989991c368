"""``flask mail ...``: a test message, and reading bounce reports."""

from pathlib import Path

import click
from flask import current_app

from crm.core.errors import ServiceError
from crm.extensions import db
from crm.mail import bounces, services


@click.group("mail")
def mail_cli():
    """E-mail: test the transport, read bounces."""


@mail_cli.command("send-test")
@click.option("--to", "to", required=True, help="Address to send the test to.")
def send_test(to):
    """Send one message through the configured transport and report the outcome."""
    try:
        how = services.send_test(to)
    except ServiceError as exc:
        raise click.ClickException(exc.message) from None
    if how == "outbox":
        click.echo("Demo mode without CRM_MAIL_URL: nothing was sent (outbox).")
    else:
        click.echo(f"Sent a test message to {to}.")


def _apply(raw: bytes, source: str) -> int:
    try:
        results = bounces.apply(raw, source)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    for bounce, outcome in results:
        click.echo(f"{source}: {bounce.address} {bounce.code} -> {outcome}")
    if not results:
        click.echo(f"{source}: not a delivery report with a failed recipient")
    return len(results)


@mail_cli.command("bounces")
@click.option(
    "--dir",
    "folder",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="A folder of .eml delivery reports.",
)
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="One delivery report.",
)
@click.option("--imap", is_flag=True, help="Read CRM_BOUNCE_IMAP_URL.")
def read_bounces(folder, file, imap):
    """Read delivery-status reports and flag hard and soft bounced addresses."""
    if not (folder or file or imap):
        raise click.UsageError("Give --dir, --file or --imap.")
    paths = [file] if file else []
    if folder:
        paths.extend(bounces.files_in(folder))
    flagged = sum(_apply(path.read_bytes(), path.name) for path in paths)
    if imap:
        url = current_app.config.get("BOUNCE_IMAP_URL")
        if not url:
            raise click.ClickException("CRM_BOUNCE_IMAP_URL is not set.")
        try:
            count = bounces.read_imap(url, lambda raw: _apply(raw, "imap"))
        except (OSError, ValueError) as exc:
            raise click.ClickException(f"IMAP: {exc}") from None
        except Exception as exc:  # imaplib.IMAP4.error and its kin
            raise click.ClickException(f"IMAP server error: {exc}") from None
        click.echo(f"Read {count} message(s) from IMAP.")
    click.echo(f"Flagged {flagged} bounce(s).")
