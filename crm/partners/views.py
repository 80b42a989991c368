"""The public tracking link ``/r/<code>?to=<destination>``.

Anyone may follow it. An active partner's link sets the signed referral
cookie; every link, known or not, then sends the visitor to the destination
when the administrator allowed it, else to the default landing page, else
shows a plain "not found" page. An unknown or inactive code answers like any other
link without a cookie, so the link tells nothing about partners.
"""

import logging

from flask import Blueprint, current_app, redirect, render_template, request

from crm.core.db import utcnow
from crm.partners import services, tracking

log = logging.getLogger(__name__)

bp = Blueprint("partners", __name__)


@bp.get("/r/<code>")
def track(code):
    target = services.landing_for(request.args.get("to"))
    if target is None:
        # Nothing to open: a plain page, answered as "not found".
        response = current_app.make_response(
            (render_template("partners/no_destination.html"), 404)
        )
    else:
        response = redirect(target, code=302)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"

    partner = services.find_by_code(code)
    existing = request.cookies.get(tracking.COOKIE_NAME)
    if partner is None or not partner.is_active:
        return response
    if services.keeps_existing_cookie(existing, utcnow()):
        return response
    response.set_cookie(
        tracking.COOKIE_NAME,
        tracking.make_cookie_value(partner.id),
        max_age=tracking.cookie_max_age(partner.track_days),
        httponly=True,
        samesite="Lax",
        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
        path="/",
    )
    log.info("tracking link of partner %s followed", partner.code)
    return response
