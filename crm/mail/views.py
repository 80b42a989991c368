"""Public mail endpoints, reached from inside e-mails without signing in.

Each takes a signed token: a forged or changed one gets 404, never a
traceback and never a redirect. The pixel always sends the image.
"""

import logging

from flask import Blueprint, abort, make_response, redirect, render_template, request

from crm.extensions import csrf, db
from crm.mail import services, statuses, tracking
from crm.tracking import services as web_tracking

logger = logging.getLogger(__name__)

bp = Blueprint("mail_public", __name__, url_prefix="/m")


def _client() -> tuple[str, str]:
    return request.remote_addr or "", request.headers.get("User-Agent", "")


@bp.get("/o/<token>.gif")
def pixel(token):
    # The image is always sent, so a mail client shows nothing broken; a token
    # that does not verify records nothing and answers 404 like every other.
    message = services.message_for_token(tracking.OPEN, token)
    if message is not None:
        services.record_open(message, *_client())
        db.session.commit()
    response = make_response(tracking.PIXEL, 200 if message is not None else 404)
    response.headers["Content-Type"] = "image/gif"
    response.headers["Cache-Control"] = "no-store, max-age=0"
    return response


@bp.get("/c/<token>")
def click(token):
    target = services.click_target(token)
    if target is None:
        abort(404)
    message, url = target
    services.record_click(message, url, *_client())
    db.session.commit()
    # A link into a site that carries the tracking code tells its script who
    # clicked (a signed token that expires), so the visit joins the contact.
    return redirect(web_tracking.link_with_identity(url, message.contact_id), code=302)


# Mailbox providers send the RFC 8058 one-click POST with no session and no
# CSRF token; the signed token in the path is what authorises the request,
# so this one endpoint is exempt from CSRF on purpose.
@csrf.exempt
@bp.route("/u/<token>", methods=("GET", "POST"))
def unsubscribe(token):
    message = services.message_for_token(tracking.UNSUBSCRIBE, token)
    if message is None:
        abort(404)
    if request.method == "GET":
        return render_template(
            "mail/unsubscribe.html", address=message.address, done=False
        )
    one_click = request.form.get("List-Unsubscribe") == "One-Click"
    services.unsubscribe(message, one_click=one_click)
    db.session.commit()
    return render_template("mail/unsubscribe.html", address=message.address, done=True)


# Confirming takes a button press (a POST with the page's CSRF token): link
# scanners that fetch every URL of a message must not confirm for the reader.
@bp.route("/confirm/<token>", methods=("GET", "POST"))
def confirm(token):
    address = tracking.verify_confirmation(token)
    if address is None:
        abort(404)
    if request.method == "POST":
        services.confirm(address)
        db.session.commit()
    row = services.find_status(address)
    confirmed = row is not None and row.status == statuses.DOUBLE_OPT_IN
    return render_template(
        "mail/confirm.html",
        address=address,
        confirmed=confirmed,
        asked=request.method == "POST",
    )
