"""The public side: web forms at /f/<slug>, their embed script, and /buy/<slug>.

No sign-in and no session: a form's signed render token stands in for the
CSRF token, and a checkout's one-time key makes a retried order harmless.
"""

import json
import logging

from flask import (
    Blueprint,
    abort,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from crm.core.errors import ServiceError
from crm.core.security import allow_framing
from crm.core.text import human_size
from crm.extensions import csrf, db
from crm.files import services as filebox
from crm.partners import tracking as referral_cookie
from crm.webforms import checkout as checkouts
from crm.webforms import fields as catalogue
from crm.webforms import services, spam, uploads

log = logging.getLogger(__name__)

bp = Blueprint("webforms", __name__)

GENERAL = "_form"
# What a form's own fields may take in a request, besides its files.
FIELDS_BYTES = 1024 * 1024
# Parts of a posted form besides its fields and files: the token, the
# honeypot, the carried visitor, page and UTM values, the embed flag.
EXTRA_PARTS = 20


def _client_ip() -> str:
    return (request.remote_addr or "unknown")[:64]


def _field_rows(form, values, errors, files_lost=False):
    rows = []
    per_file, per_box = filebox.limits()
    for row in form.fields:
        if row.hidden:
            continue
        kind, options = catalogue.input_kind(row.key)
        value = values.get(row.key)
        shown = {
            "name": row.key,
            "id": "f-" + row.key.replace(":", "-").replace(".", "-"),
            "label": row.label,
            "required": row.required,
            "kind": kind,
            "options": options,
            "value": value if kind == "multi" else (value or ""),
            "error": errors.get(row.key),
        }
        if kind == "file":
            shown["multiple"] = row.multiple
            shown["limits"] = (
                _(
                    "Up to %(count)s files, %(per_file)s per file, %(per_box)s in all.",
                    count=uploads.MAX_FILES,
                    per_file=human_size(per_file),
                    per_box=human_size(per_box),
                )
                if row.multiple
                else _(
                    "Up to %(per_file)s per file, %(per_box)s in all.",
                    per_file=human_size(per_file),
                    per_box=human_size(per_box),
                )
            )
            shown["again"] = files_lost
        rows.append(shown)
    return rows


def request_limit(form) -> int:
    """The largest request the form takes: its fields, plus room for as many
    files as its file fields allow, never more than one file box."""
    rows = uploads.file_rows(form)
    if not rows:
        return FIELDS_BYTES
    per_file, per_box = filebox.limits()
    room = sum(per_box if row.multiple else per_file for row in rows)
    return min(room, per_box) + FIELDS_BYTES


def parts_limit(form) -> int:
    """The most parts a posting of the form has: one per field, one per
    option of a list box, as many files as its file fields take, and the
    page's own hidden inputs."""
    parts = EXTRA_PARTS
    for row in form.fields:
        kind, options = catalogue.input_kind(row.key)
        if kind == "file":
            parts += uploads.MAX_FILES if row.multiple else 1
        else:
            parts += len(options) if kind == "multi" else 1
    return parts


def _carried(source) -> dict:
    """The visitor id, page and UTM parameters the page passes on to the POST."""
    carried = {
        key: (source.get(key) or "")[:200]
        for key in services.UTM_KEYS
        if source.get(key)
    }
    vid = services.clean_visitor_id(source.get("_vid") or source.get("vid"))
    if vid:
        carried["_vid"] = vid
    page = source.get("_page") or source.get("page")
    if page:
        carried["_page"] = page[:2000]
    return carried


def _form_page(
    form, values=None, errors=None, status=200, carried=None, files_lost=False
):
    embed = _embedded()
    errors = errors or {}
    hidden = dict(carried or {})
    if embed:
        hidden["_embed"] = "1"
    body = render_template(
        "webforms/form.html",
        form=form,
        rows=_field_rows(form, values or {}, errors, files_lost),
        multipart=services.has_files(form),
        general=errors.get(GENERAL)
        or [
            message
            for key, message in errors.items()
            if key != GENERAL
            and key not in {r.key for r in form.fields if not r.hidden}
        ],
        token=spam.make_token(form.id),
        honeypot=spam.HONEYPOT,
        token_field=spam.TOKEN_FIELD,
        hidden=hidden,
        embed=embed,
    )
    return _framable(form, make_response(body, status))


def _embedded() -> bool:
    # A request too large to read has no form: only the query string tells.
    try:
        return (request.values.get("embed") or request.values.get("_embed")) == "1"
    except RequestEntityTooLarge:
        return request.args.get("embed") == "1"


def _origins_of(url) -> list[str]:
    parsed = referral_cookie.parse_url(url) if url else None
    if parsed is None:
        return []
    origin = referral_cookie.Parsed(parsed.scheme, parsed.host, parsed.port, "", "", "")
    return [origin.url().rstrip("/")]


def _framable(form, response):
    response.headers["Cache-Control"] = "no-store"
    return allow_framing(
        response,
        services.frame_origins(form),
        _origins_of(services.redirect_target(form)),
    )


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")


def _posted() -> MultiDict:
    """The posted form without NUL characters, which PostgreSQL text refuses."""
    return MultiDict([(k, _no_nul(v)) for k, v in request.form.items(multi=True)])


def _posted_values(form, posted) -> dict:
    values = {}
    for row in form.fields:
        if row.hidden or catalogue.is_file(row.key):
            continue
        if catalogue.input_kind(row.key)[0] == "multi":
            values[row.key] = posted.getlist(row.key)
        else:
            values[row.key] = posted.get(row.key)
    return values


@bp.get("/f/<slug>")
def show_form(slug):
    form = services.active_form(slug) or abort(404)
    return _form_page(form, carried=_carried(request.args))


def _posted_files(form) -> dict:
    """The files posted for each file field (uploads.Sent), by field key."""
    return {
        row.key: uploads.from_request(request.files.getlist(row.key))
        for row in uploads.file_rows(form)
    }


def _too_large_page(form):
    """The form again, when the request was refused unread for its size (or
    for more parts than the form has)."""
    too_many_parts = (request.content_length or 0) <= request.max_content_length
    if services.has_files(form) and not too_many_parts:
        per_file, per_box = filebox.limits()
        message = _(
            "The files sent are larger than this form takes (up to %(per_file)s "
            "per file, %(per_box)s in all); nothing was kept.",
            per_file=human_size(per_file),
            per_box=human_size(per_box),
        )
    else:
        message = _("What you sent is larger than this form takes; nothing was kept.")
    return _form_page(form, {}, {GENERAL: message}, 413, _carried(request.args))


@csrf.exempt
@bp.post("/f/<slug>")
def submit_form(slug):
    form = services.active_form(slug) or abort(404)
    request.max_content_length = request_limit(form)
    request.max_form_parts = parts_limit(form)
    try:
        posted = _posted()
        files = _posted_files(form)
    except RequestEntityTooLarge:
        return _too_large_page(form)
    values = _posted_values(form, posted)
    carried = _carried(posted)
    files_lost = any(files.values())
    age = spam.token_age(posted.get(spam.TOKEN_FIELD), form.id)
    if age is None:
        message = _(
            "This form has expired. Please check your entries and send it again."
        )
        return _form_page(form, values, {GENERAL: message}, 400, carried, files_lost)

    meta = services.Meta(
        ip=_client_ip(),
        user_agent=_no_nul(request.headers.get("User-Agent", "")),
        page_url=carried.get("_page") or _no_nul(request.headers.get("Referer", "")),
        utm={k: v for k, v in carried.items() if k in services.UTM_KEYS},
        visitor_id=carried.get("_vid", ""),
        referral_cookie=_no_nul(request.cookies.get(referral_cookie.COOKIE_NAME, "")),
        token_age=age,
        honeypot=posted.get(spam.HONEYPOT, ""),
    )
    form_id = form.id
    answer = _Answer(form)
    try:
        outcome = services.submit(form, values, meta, files)
        if outcome.state in ("processed", "held", "queued"):
            db.session.commit()
        else:
            db.session.rollback()
    except ServiceError as exc:
        # Everything of the submission goes, the bytes of its files too.
        db.session.rollback()
        form = db.session.get(type(form), form_id)
        where = exc.field if exc.field in {r.key for r in form.fields} else GENERAL
        return _form_page(form, values, {where: exc.message}, 400, carried, files_lost)
    except (IntegrityError, StaleDataError):
        # Another submission for the same contact was committed meanwhile.
        db.session.rollback()
        log.warning("web form %s: submission collided with another", form_id)
        form = db.session.get(type(form), form_id)
        message = _("Your submission crossed with another one. Please send it again.")
        return _form_page(form, values, {GENERAL: message}, 409, carried, files_lost)

    if outcome.state == "invalid":
        form = db.session.get(type(form), form_id)
        return _form_page(form, values, outcome.errors, 400, carried, files_lost)
    if outcome.state == "refused":
        response = make_response(
            render_template("webforms/refused.html", form=answer), 429
        )
        response.headers["Retry-After"] = str(spam.setting("WEBFORMS_RATE_WINDOW"))
        return answer.framable(response)

    services.run_after_commit(outcome.after_commit)
    if answer.redirect:
        return redirect(answer.redirect, code=303)
    body = render_template(
        "webforms/thanks.html", form=answer, embed=request.form.get("_embed") == "1"
    )
    return answer.framable(make_response(body))


class _Answer:
    """What the answer to a submission needs of its form, read before the commit
    (so the answer reads nothing again afterwards)."""

    def __init__(self, form):
        self.name, self.title, self.slug = form.name, form.title, form.slug
        self.thank_you = form.thank_you
        self.redirect = services.redirect_target(form)
        self.origins = services.frame_origins(form)
        self.form_action = _origins_of(self.redirect)

    def framable(self, response):
        response.headers["Cache-Control"] = "no-store"
        return allow_framing(response, self.origins, self.form_action)


@bp.get("/f/<slug>/embed.js")
def embed_script(slug):
    form = services.active_form(slug) or abort(404)
    frame_url = url_for("webforms.show_form", slug=form.slug, _external=True)
    origin = request.host_url.rstrip("/")
    script = render_template(
        "webforms/embed.js",
        frame_url=json.dumps(frame_url),
        origin=json.dumps(origin),
        slug=json.dumps(form.slug),
        title=json.dumps(form.title or form.name),
        utm_keys=json.dumps(list(services.UTM_KEYS)),
    )
    response = make_response(script)
    response.headers["Content-Type"] = "text/javascript; charset=utf-8"
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response


# Online purchase --------------------------------------------------------------


def _buy_page(checkout, values=None, errors=None, status=200, message=""):
    values = dict(values or {})
    values.pop("card_number", None)
    body = render_template(
        "webforms/buy.html",
        checkout=checkout,
        product=checkout.product,
        values=values,
        errors=errors or {},
        message=message,
        key=checkouts.new_key(),
        vid=services.clean_visitor_id(
            request.values.get("_vid") or request.values.get("vid")
        ),
        contact_keys=[
            (k, str(catalogue.CONTACT_FIELDS[k].label), required)
            for k, required in checkouts.CONTACT_KEYS
        ],
        address_parts=[
            (p, str(catalogue.CONTACT_FIELDS[f"billing.{p}"].label), required)
            for p, required in checkouts.ADDRESS_PARTS
        ],
    )
    response = make_response(body, status)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/buy/<slug>")
def buy(slug):
    checkout = checkouts.active_checkout(slug) or abort(404)
    return _buy_page(checkout)


@csrf.exempt
@bp.post("/buy/<slug>")
def place_order(slug):
    checkout = checkouts.active_checkout(slug) or abort(404)
    checkout_id = checkout.id
    posted = _posted()
    key = checkouts.clean_key(posted.get("key"))
    values = posted.to_dict()
    if key is None:
        message = _(
            "This order page has expired. Please check your entries and order again."
        )
        return _buy_page(checkout, values, {}, 400, message)
    if checkouts.find_purchase(key) is not None:
        return redirect(url_for("webforms.receipt", key=key), code=303)

    checked, errors = checkouts.check_values(checkout, posted)
    if errors:
        return _buy_page(checkout, values, errors, 400)
    vid = services.clean_visitor_id(posted.get("_vid"))
    try:
        placed = checkouts.place(checkout, key, checked, vid)
    except IntegrityError:
        # The same page was sent twice at once: the first one won.
        db.session.rollback()
        if checkouts.find_purchase(key) is not None:
            return redirect(url_for("webforms.receipt", key=key), code=303)
        checkout = db.session.get(type(checkout), checkout_id)
        message = _("Your order crossed with another one. Please order again.")
        return _buy_page(checkout, values, {}, 409, message)
    except ServiceError as exc:
        db.session.rollback()
        checkout = db.session.get(type(checkout), checkout_id)
        return _buy_page(checkout, values, {}, 400, exc.message)
    if placed.declined:
        db.session.rollback()
        checkout = db.session.get(type(checkout), checkout_id)
        message = _(
            "The payment did not go through: %(reason)s Nothing was charged and "
            "no order was placed.",
            reason=placed.declined,
        )
        return _buy_page(
            checkout, values, {"card_number": placed.declined}, 402, message
        )
    db.session.commit()
    services.run_after_commit(placed.after_commit)
    return redirect(url_for("webforms.receipt", key=key), code=303)


@bp.get("/buy/receipt/<key>")
def receipt(key):
    purchase = checkouts.find_purchase(key)
    if purchase is None or purchase.order is None:
        abort(404)
    from crm.sales import services as sales

    order = purchase.order
    summary = sales.summarise(order)
    payment = next((t for t in order.transactions if t.kind == "payment"), None)
    response = make_response(
        render_template(
            "webforms/receipt.html",
            order=order,
            summary=summary,
            payment=payment,
            contact=purchase.contact,
        )
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response
