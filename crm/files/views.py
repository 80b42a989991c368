"""Serving files: always as a download, never as a page on the app's origin.

Private files are served by the File box tab's screen (crm/files/record.py)
to users who may see the contact; public files by the unguessable link
below, to anyone holding it.
"""

import logging

from flask import Blueprint, abort, send_file

from crm.files import services

log = logging.getLogger(__name__)

bp = Blueprint("files_public", __name__)


def download(row, *, private: bool):
    """The response that hands over a file as an attachment, inert."""
    path = services.path_of(row)
    if not path.is_file():
        log.error("file %s has no stored bytes (%s)", row.id, row.stored_name)
        abort(404)
    return send_attachment(path, row.name, row.content_type, private=private)


def send_attachment(path, name: str, content_type: str, *, private: bool):
    """Stored bytes as a download under ``name``: attachment, nosniff, a
    sandbox policy, and only inert types keep their type."""
    response = send_file(
        path,
        mimetype=services.served_type(content_type),
        as_attachment=True,
        download_name=name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = services.FILE_CSP
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Cache-Control"] = "private, no-store" if private else "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.get("/files/<token>")
def public_file(token):
    row = services.find_public(token)
    if row is None:
        abort(404)
    return download(row, private=False)
