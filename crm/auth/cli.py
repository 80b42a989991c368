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
    user = services.create_user(email, password, name=name, is_admin=is_admin)
    return user


def _fail(exc):
    db.session.rollback()
    raise click.ClickException(exc.message) from None


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
    try:
        user = _create(email, password, is_admin=True, name=name)
        db.session.commit()
    except ServiceError as exc:
        _fail(exc)
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
@click.option(
    "--team",
    "team_name",
    default=None,
    help="Add the user to this team as a member (the team is created if new).",
)
@click.option(
    "--view-all/--own-only",
    "view_all",
    default=None,
    help="See every contact, or only own, managed and shared ones "
    "(default: the global default permissions).",
)
@with_appcontext
def create_user(email, password, name, team_name, view_all):
    """Create an ordinary user."""
    from crm.access import services as access

    try:
        user = _create(email, password, is_admin=False, name=name)
        if view_all is not None:
            scope = "all" if view_all else "own"
            wanted = {"view_scope": scope}
            if not view_all:
                wanted["edit_scope"] = "own"
            access.set_user_permissions(user, {"contacts": wanted})
        team = None
        if team_name:
            team = access.find_team(team_name) or access.create_team(team_name)
            access.set_member(team, user)
        db.session.commit()
    except ServiceError as exc:
        _fail(exc)
    where = f" in team {team.name}" if team else ""
    click.echo(f"User {user.email} created{where}.")
