"""My account: the signed-in user's own interface language and password."""

from flask import flash, redirect, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import refresh
from flask_login import current_user, login_user

from crm.auth import services, throttle
from crm.auth.forms import LanguageForm, PasswordForm
from crm.core.admin import SecuredView
from crm.core.errors import ServiceError
from crm.extensions import db


class AccountView(SecuredView):
    """Any signed-in user's own settings, linked from their name in the top bar."""

    def __init__(self, **kwargs):
        super().__init__(
            name=_l("My account"), endpoint="account", url="/admin/account", **kwargs
        )

    def is_visible(self):
        # Reached from the user's name, not from the main menu.
        return False

    @expose("/")
    def index(self):
        return self._page()

    @expose("/language", methods=("POST",))
    def language(self):
        form = LanguageForm()
        if not form.validate_on_submit():
            _flash_errors(form)
            return self._page(language_form=form)

        user = current_user._get_current_object()
        try:
            services.set_own_language(user, form.locale.data)
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return self._page(language_form=form)

        # Said in the language just chosen, as the next page is.
        refresh()
        flash(_("Language saved."), "success")
        return redirect(url_for(".index"))

    @expose("/password", methods=("POST",))
    def password(self):
        form = PasswordForm()
        user = current_user._get_current_object()
        if throttle.is_blocked(user.email):
            flash(
                _("Too many wrong passwords. Wait a few minutes and try again."),
                "error",
            )
            return self._page(password_form=form), 429
        if not form.validate_on_submit():
            _flash_errors(form)
            return self._page(password_form=form)

        try:
            services.change_own_password(
                user,
                form.current_password.data,
                form.new_password.data,
                form.repeated_password.data,
            )
            db.session.commit()
        except ServiceError as exc:
            db.session.rollback()
            if exc.field == "current_password":
                # Guessing the password from a borrowed session counts as sign-ins do.
                throttle.record_failure(user.email)
                db.session.commit()
            flash(exc.message, "error")
            return self._page(password_form=form)

        # The new session token ended every session; this one carries on.
        login_user(user)
        flash(_("Password changed. Your other sessions are signed out."), "success")
        return redirect(url_for(".index"))

    def _page(self, language_form=None, password_form=None):
        user = current_user._get_current_object()
        if language_form is None:
            language_form = LanguageForm(formdata=None, locale=user.locale)
        if password_form is None:
            password_form = PasswordForm(formdata=None)
        return self.render(
            "auth/account.html",
            user=user,
            language_form=language_form,
            password_form=password_form,
        )


def _flash_errors(form) -> None:
    for name, errors in form.errors.items():
        field = getattr(form, name, None)
        label = field.label.text if field is not None else name
        for error in errors:
            flash(f"{label}: {error}", "error")
