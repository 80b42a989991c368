"""Sign in and sign out."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user

from crm.auth import services, throttle
from crm.auth.forms import LoginForm
from crm.auth.models import User
from crm.core.text import as_id
from crm.extensions import db, login_manager

bp = Blueprint("auth", __name__)

login_manager.login_view = "auth.login"
login_manager.session_protection = "basic"


@login_manager.user_loader
def load_user(user_id: str):
    ident, _, token = user_id.partition(":")
    ident = as_id(ident)
    if ident is None:
        return None
    user = db.session.get(User, ident)
    if user is None or not user.active or user.session_token != token:
        return None
    return user


def _safe_next(target: str | None) -> str:
    # Only a path on this site; never a scheme, a host or a protocol-relative URL.
    if target:
        parts = urlsplit(target)
        if (
            not parts.scheme
            and not parts.netloc
            and target.startswith("/")
            and not target.startswith("//")
            and "\\" not in target
        ):
            return target
    return url_for("contact.index_view")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))

    form = LoginForm()
    if request.method == "POST" and throttle.is_blocked(form.email.data or ""):
        flash(_("Too many failed sign-ins. Wait a few minutes and try again."), "error")
        return render_template("auth/login.html", form=form), 429

    if form.validate_on_submit():
        user = services.authenticate(form.email.data, form.password.data)
        if user is not None:
            throttle.clear_account(form.email.data)
            db.session.commit()
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        throttle.record_failure(form.email.data)
        db.session.commit()
        flash(_("Wrong e-mail or password."), "error")
    elif request.method == "POST":
        flash(_("Wrong e-mail or password."), "error")
    return render_template("auth/login.html", form=form), (
        401 if request.method == "POST" else 200
    )


@bp.post("/logout")
@login_required
def logout():
    logout_user()
    flash(_("You are signed out."), "info")
    return redirect(url_for("auth.login"))
