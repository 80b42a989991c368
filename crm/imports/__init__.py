"""Importing contact files (CSV and vCard) from the admin screen and the CLI."""
