"""The public tracking endpoints: the script, the collector and the pixel.

Sites call these from their own pages, without signing in. The collector
answers cross-origin requests only from the origins registered for the
site named in the request; any other origin is refused and nothing is
recorded. Do-Not-Track (or Global Privacy Control) and a visitor who did
not consent record nothing either.
"""

import json
import logging
import secrets

from flask import (
    Blueprint,
    abort,
    current_app,
    jsonify,
    make_response,
    render_template,
    request,
    url_for,
)

from crm.core.db import utcnow
from crm.extensions import csrf, db
from crm.mail.tracking import PIXEL
from crm.tracking import services

log = logging.getLogger(__name__)

bp = Blueprint("tracking", __name__, url_prefix="/t")

MAX_BEACON_BYTES = 16 * 1024
PIXEL_COOKIE = "crm_px"
PIXEL_COOKIE_AGE = 365 * 24 * 3600


def declines_tracking() -> bool:
    """The browser asks not to be tracked (DNT or Global Privacy Control)."""
    return request.headers.get("DNT") == "1" or request.headers.get("Sec-GPC") == "1"


def _cors(response, origin):
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Vary"] = "Origin"
    return response


def _refused():
    response = make_response(jsonify(error="refused"), 403)
    response.headers["Vary"] = "Origin"
    return response


@bp.get("/<site_key>.js")
def script(site_key):
    site = services.find_site(site_key)
    if site is None:
        abort(404)
    settings = {
        "key": site.site_key,
        "collect": url_for("tracking.collect", _external=True),
        "param": services.IDENTITY_PARAM,
    }
    body = render_template("tracking/script.js", settings=json.dumps(settings))
    response = make_response(body)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


def _payload() -> dict | None:
    raw = request.get_data(cache=False, as_text=False)
    if not raw or len(raw) > MAX_BEACON_BYTES:
        return None
    try:
        value = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    return value if isinstance(value, dict) else None


def _text(payload, name) -> str:
    value = payload.get(name)
    return value if isinstance(value, str) else ""


# The script posts text/plain (a "simple" request, no preflight) and sends no
# cookies; the site key in the body names the site, the CSRF token of the
# app's own forms has no meaning here.
@csrf.exempt
@bp.route("/collect", methods=("POST", "OPTIONS"))
def collect():
    origin = services.origin_of(request.headers.get("Origin"))
    if request.method == "OPTIONS":
        if not services.any_site_allows(origin):
            return _refused()
        response = make_response("", 204)
        response.headers["Access-Control-Allow-Methods"] = "POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
        return _cors(response, origin)

    request.max_content_length = MAX_BEACON_BYTES
    payload = _payload()
    site = services.find_site(_text(payload, "k")) if payload else None
    if site is None or not services.site_allows(site, origin):
        log.info("tracking beacon refused from origin %s", origin)
        return _refused()
    response = _cors(make_response("", 204), origin)
    if declines_tracking() or payload.get("c") is False:
        return response

    if payload.get("e") == "leave":
        services.record_leave(
            site,
            visitor_key=_text(payload, "v"),
            view_key=_text(payload, "p"),
            seconds=payload.get("s"),
            now=utcnow(),
        )
    else:
        view = services.record_view(
            site,
            visitor_key=_text(payload, "v"),
            view_key=_text(payload, "p"),
            url=_text(payload, "u"),
            title=_text(payload, "t"),
            referrer=_text(payload, "r"),
            user_agent=request.headers.get("User-Agent", ""),
            identity=_text(payload, "it") or None,
            now=utcnow(),
        )
        if view is None:
            db.session.rollback()
            return _cors(
                make_response(jsonify(error="not a view of this site"), 400), origin
            )
    db.session.commit()
    return response


def _gif(status=200):
    response = make_response(PIXEL, status)
    response.headers["Content-Type"] = "image/gif"
    response.headers["Cache-Control"] = "no-store, max-age=0"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


@bp.get("/<site_key>/p.gif")
def pixel(site_key):
    """The no-script fallback: one view per image load, of the page that shows it."""
    site = services.find_site(site_key)
    if site is None:
        return _gif(404)
    if declines_tracking() or request.args.get("c") == "0":
        return _gif()
    url = request.args.get("u") or request.referrer or ""
    visitor_key = request.args.get("v") or request.cookies.get(PIXEL_COOKIE) or ""
    new_key = not services.valid_key(visitor_key)
    if new_key:
        visitor_key = secrets.token_urlsafe(16)
    view = services.record_view(
        site,
        visitor_key=visitor_key,
        view_key=secrets.token_urlsafe(16),
        url=url,
        title=request.args.get("t", ""),
        referrer=request.args.get("r", ""),
        user_agent=request.headers.get("User-Agent", ""),
        now=utcnow(),
    )
    if view is None:
        db.session.rollback()
        return _gif()
    db.session.commit()
    response = _gif()
    if new_key:
        secure = bool(current_app.config.get("SESSION_COOKIE_SECURE"))
        response.set_cookie(
            PIXEL_COOKIE,
            visitor_key,
            max_age=PIXEL_COOKIE_AGE,
            httponly=True,
            secure=secure,
            samesite="None" if secure else "Lax",
        )
    return response
