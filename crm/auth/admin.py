"""User administration: flags, per-area permissions, password reset."""

from flask import request
from flask_admin.form import rules
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import inspect
from wtforms import PasswordField

from crm.access import forms as permission_forms
from crm.access import services as access
from crm.auth import services
from crm.auth.forms import LanguageField
from crm.auth.models import User
from crm.core.admin import SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import email_problem, normalize_email
from crm.extensions import db


class PermissionTable(rules.BaseRule):
    """Renders the per-area permission fields of the form as one table."""

    @property
    def visible_fields(self):
        return permission_forms.field_names()

    def __call__(self, form, form_opts=None, field_args=None):
        from flask import render_template

        areas, columns = permission_forms.table_rows()
        note = _(
            "Administrators have every permission; these apply while the "
            "Administrator box is not ticked."
        )
        return Markup(
            render_template(
                "access/permission_table.html",
                form=form,
                areas=areas,
                columns=columns,
                note=note,
            )
        )


def _teams(view, context, model, name):
    return ", ".join(team.name for team in access.teams_of(model))


class UserView(SecuredModelView):
    required_role = "admin"
    column_list = ("email", "name", "is_admin", "active", "teams", "last_login_at")
    column_searchable_list = ("email", "name")
    column_filters = ("is_admin", "active")
    column_formatters = {"teams": _teams}
    form_columns = ("email", "name", "is_admin", "active", "locale", "new_password")
    form_overrides = {"locale": LanguageField}
    form_extra_fields = {
        "new_password": PasswordField(
            _l("New password"),
            description=_l(
                "Sets a new password and signs the user out everywhere. "
                "At least 12 characters, not a common password."
            ),
        )
    }
    column_labels = {
        "email": _l("E-mail"),
        "name": _l("Name"),
        "is_admin": _l("Administrator"),
        "active": _l("Active"),
        "teams": _l("Teams"),
        "last_login_at": _l("Last sign-in"),
        "locale": _l("Language"),
    }
    column_descriptions = {
        "locale": _l(
            "The language of the screens this user sees; with “Browser's "
            "language”, their browser's setting decides."
        ),
        "active": _l("Inactive users cannot sign in; what they own stays theirs."),
        "is_admin": _l("Administrators see everything and manage the settings."),
    }
    form_rules = (
        "email",
        "name",
        "locale",
        "active",
        "is_admin",
        "new_password",
        PermissionTable(),
    )
    allow_delete = False

    def __init__(self, **kwargs):
        super().__init__(
            User, name=_l("Users"), endpoint="user", category=_l("Settings"), **kwargs
        )

    def scaffold_form(self):
        return permission_forms.add_permission_fields(super().scaffold_form())

    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET":
            permission_forms.fill_permissions(form, access.default_permissions())
        return form

    def on_form_prefill(self, form, id):
        user = self.get_one(id)
        if user is not None:
            permission_forms.fill_permissions(form, access.user_permissions(user))

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            before = self._check(form, model, is_created)
        db.session.flush()
        access.set_user_permissions(
            model, permission_forms.read_permissions(form), actor=current_user
        )
        services.record_user_change(model, before, actor=current_user)

    def _check(self, form, model, is_created) -> dict:
        state = inspect(model)
        before = {
            "is_admin": _old_value(state, "is_admin", False),
            "active": _old_value(state, "active", True),
        }
        if is_created:
            before = {"is_admin": False, "active": False}

        key = normalize_email(model.email or "")
        # An address kept as stored was accepted under the rule of its day.
        kept = not is_created and key == normalize_email(_stored_value(state, "email"))
        problem = email_problem(key) if key else _("An e-mail address is required.")
        if problem and not kept:
            raise ServiceError(problem, field="email")
        other = services.find_by_email(key)
        if other is not None and other is not model:
            raise ServiceError(
                _("A user with the e-mail %(email)s already exists.", email=key)
            )
        model.email = key
        model.locale = services.checked_language(model.locale)

        password = form.new_password.data
        if is_created and not password:
            raise ServiceError(_("A new user needs a password."))
        if password:
            services.set_password(model, password)
        services.check_admin_change(model, before, actor=current_user)
        services.end_sessions_if_deactivated(model, before)
        return before


def _stored_value(state, attr):
    """The value of ``attr`` as loaded from the database, or None."""
    history = state.attrs[attr].history
    stored = history.deleted or history.unchanged
    return stored[0] if stored else None


def _old_value(state, attr, default):
    history = state.attrs[attr].history
    if history.deleted:
        return bool(history.deleted[0])
    if history.unchanged:
        return bool(history.unchanged[0])
    value = state.attrs[attr].value
    return bool(default if value is None else value)


def views():
    yield UserView()

    from crm.auth.account import AccountView

    yield AccountView()

    # Access screens live in crm.access; registered here with the user screens.
    from crm.access.admin import views as access_views

    yield from access_views()
