"""flask teams ...: set up teams from the shell."""

import click
from flask.cli import with_appcontext

from crm.access import services
from crm.auth.services import find_by_email
from crm.core.errors import ServiceError
from crm.extensions import db


@click.group("teams")
def teams_cli():
    """Manage teams: members, and managers who see what the members own."""


def _users(emails):
    found = []
    for email in emails:
        user = find_by_email(email)
        if user is None:
            raise ServiceError(f"No user has the e-mail {email}.")
        found.append(user)
    return found


@teams_cli.command("create")
@click.argument("name")
@click.option(
    "--manager", "managers", multiple=True, help="A manager's e-mail (repeatable)."
)
@click.option(
    "--member", "members", multiple=True, help="A member's e-mail (repeatable)."
)
@with_appcontext
def create_team(name, managers, members):
    """Create team NAME with its managers and members."""
    try:
        team = services.create_team(name)
        for user in _users(members):
            services.set_member(team, user, is_manager=False)
        for user in _users(managers):
            services.set_member(team, user, is_manager=True)
        db.session.commit()
    except ServiceError as exc:
        db.session.rollback()
        raise click.ClickException(exc.message) from None
    click.echo(
        f"Team {team.name} created with {len(managers)} manager(s) and "
        f"{len(members)} member(s)."
    )
