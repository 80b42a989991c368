"""flask demo ...: a demo database to try the CRM with."""

import click


@click.group("demo")
def demo_cli():
    """Set up demo data."""
