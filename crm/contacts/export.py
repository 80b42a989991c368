"""Exports of the contact list."""

from flask import abort


def export_response(view, export_type):
    abort(404)
