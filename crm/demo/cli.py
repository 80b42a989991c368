"""flask demo ...: a demo database to try the CRM with."""

import click
from flask.cli import with_appcontext

from crm.core.errors import ServiceError
from crm.extensions import db


@click.group("demo")
def demo_cli():
    """Set up demo data."""


@demo_cli.command("load")
@with_appcontext
def load_demo():
    """Load the demo accounts and sample contacts (demo mode only, CRM_DEMO=1).

    Safe to run again: nothing is added twice. Prints how to sign in as the
    demo administrator every time.
    """
    from crm.demo import loader

    try:
        result = loader.load()
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None

    click.echo(
        f"Demo data ready: {result.contacts} contacts "
        f"({result.imported} imported now, {result.skipped} already there)."
    )
    if result.failed or result.problems:
        click.echo(
            f"The sample import left out {result.failed} rows and noted "
            f"{result.problems} problems; see the log.",
            err=True,
        )
    click.echo(f"Sign in at {loader.login_url()}")
    click.echo(f"  e-mail:   {result.admin.email}")
    click.echo(f"  password: {result.password}")
    click.echo(f"Other demo accounts and their passwords are in {result.credentials}.")
    click.echo(f"Try the public web form at {loader.public_url('/f/demo-newsletter')}")
    click.echo(f"and the order page at {loader.public_url('/buy/demo-desk-lamp')}")
    click.echo("(test card 4242 4242 4242 4242).")
