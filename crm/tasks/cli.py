"""``flask tasks ...``: reminder e-mails from the command line."""

import click
from flask.cli import with_appcontext

from crm.core.errors import ServiceError

tasks_cli = click.Group("tasks", help="Tasks, appointments and their reminders.")


@tasks_cli.command("remind")
@with_appcontext
def remind():
    """Send every reminder that has come due, once, and say how many were sent."""
    from crm.tasks import reminders

    try:
        sent = reminders.send_due()
    except ServiceError as exc:
        raise click.ClickException(exc.message) from exc
    click.echo(f"{sent} reminder(s) sent.")
