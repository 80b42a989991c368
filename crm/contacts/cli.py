"""flask contacts ...: import and export contact files."""

import click


@click.group("contacts")
def contacts_cli():
    """Import and export contacts."""
