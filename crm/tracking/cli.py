"""``flask tracking ...``: maintenance of the web tracking data."""

import click
from flask.cli import with_appcontext

from crm.extensions import db
from crm.tracking import services


@click.group("tracking")
def tracking_cli():
    """Web visitors, sessions and page views."""


@tracking_cli.command("prune")
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Inactive for this many days (default: TRACKING_INACTIVE_DAYS, 90).",
)
@with_appcontext
def prune(days):
    """Summarise inactive visitors and remove their sessions and page views."""
    count = services.prune(days=days)
    db.session.commit()
    click.echo(f"{count} inactive visitors summarised; their page views were removed.")
