"""Health check, the home redirect and friendly error pages."""

import logging

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    send_from_directory,
    url_for,
)
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from crm.core.text import human_size
from crm.extensions import db

log = logging.getLogger(__name__)

bp = Blueprint("web", __name__)


@bp.get("/")
def home():
    return redirect(url_for("contact.index_view"))


@bp.get("/favicon.ico")
def favicon():
    """The icon browsers ask for on their own, whatever page links to it."""
    return send_from_directory(
        current_app.static_folder,
        "favicon.ico",
        mimetype="image/vnd.microsoft.icon",
        max_age=86400,
    )


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
    except Exception:
        log.exception("health check: database unreachable")
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.app_errorhandler(403)
def forbidden(error):
    return render_template("errors/error.html", code=403), 403


@bp.app_errorhandler(404)
def not_found(error):
    return render_template("errors/error.html", code=404), 404


@bp.app_errorhandler(413)
def too_large(error):
    limit = current_app.config.get("MAX_CONTENT_LENGTH")
    return (
        render_template(
            "errors/error.html", code=413, limit=human_size(limit) if limit else None
        ),
        413,
    )


@bp.app_errorhandler(500)
def server_error(error):
    return render_template("errors/error.html", code=500), 500


@bp.app_errorhandler(OperationalError)
def database_error(error):
    """SQLite's one writer busy for longer than a write may wait: say so.
    Any other database error is a server error."""
    db.session.rollback()
    if "database is locked" not in str(error):
        log.error("database error: %s", error)
        return render_template("errors/error.html", code=500), 500
    log.warning("the database stayed locked; the request saved nothing")
    return render_template("errors/error.html", code=503), 503
