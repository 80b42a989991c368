"""flask users ...: create users and administrators from the shell."""

import click
from flask.cli import with_appcontext

from crm.auth import services
from crm.core.errors import ServiceError
from crm.extensions import db


@click.group("users")
def users_cli():
    """Manage the users who sign in to the CRM."""


def _create(email, password, *, is_admin, name):
    try:
        user = services.create_user(email, password, name=name, is_admin=is_admin)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    return user


@users_cli.command("create-admin")
@click.option("--email", prompt=True, help="The administrator's e-mail address.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 12 characters, not a common password.",
)
@click.option("--name", default="", help="Display name.")
@with_appcontext
def create_admin(email, password, name):
    """Create an administrator."""
    user = _create(email, password, is_admin=True, name=name)
    click.echo(f"Administrator {user.email} created.")


@users_cli.command("create")
@click.option("--email", prompt=True, help="The user's e-mail address.")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="At least 12 characters, not a common password.",
)
@click.option("--name", default="", help="Display name.")
@with_appcontext
def create_user(email, password, name):
    """Create an ordinary user."""
    user = _create(email, password, is_admin=False, name=name)
    click.echo(f"User {user.email} created.")
