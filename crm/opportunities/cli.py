"""flask opportunities ...: set up the pipeline from the command line."""

import click
from flask.cli import with_appcontext

from crm.extensions import db


@click.group("opportunities")
def opportunities_cli():
    """Opportunity stages and pipeline."""


@opportunities_cli.command("default-stages")
@with_appcontext
def default_stages():
    """Add the example pipeline (New opportunity ... Won, Lost) when none exists.

    Does nothing when any stage is already defined.
    """
    from crm.opportunities import services

    added = services.install_default_stages()
    db.session.commit()
    if not added:
        click.echo("Stages already exist; nothing was added.")
        return
    for stage in added:
        click.echo(f"{stage.name}: {stage.probability} % ({stage.kind})")
