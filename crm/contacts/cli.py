"""flask contacts ...: import and export contact files."""

import click

from crm.imports.cli import import_contacts


@click.group("contacts")
def contacts_cli():
    """Import and export contacts."""


contacts_cli.add_command(import_contacts)
