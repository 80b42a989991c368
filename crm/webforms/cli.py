"""``flask webforms process``: turn queued web-form submissions into contacts."""

import time

import click
from flask.cli import AppGroup

from crm.extensions import db
from crm.webforms import services

webforms_cli = AppGroup("webforms", help="Web forms and their submissions.")


@webforms_cli.command("process")
@click.option("--batch", default=100, show_default=True, help="Submissions per round.")
@click.option("--watch", is_flag=True, help="Keep polling the queue until stopped.")
@click.option("--poll", default=1.0, show_default=True, help="Seconds between polls.")
def process_command(batch, watch, poll):
    """Process the submissions queued while WEBFORMS_PROCESS_LATER is on."""
    while True:
        done = services.process_queued(batch)
        db.session.remove()
        if done:
            click.echo(f"{done} submission(s) processed.")
        if not watch:
            return
        if done < batch:
            time.sleep(poll)
