"""User administration."""

from flask_babel import lazy_gettext as _l
from wtforms import PasswordField

from crm.auth import services
from crm.auth.models import User
from crm.core.admin import SecuredModelView
from crm.core.errors import ServiceError


class UserView(SecuredModelView):
    required_role = "admin"
    column_list = ("email", "name", "is_admin", "active", "last_login_at")
    column_searchable_list = ("email", "name")
    form_columns = ("email", "name", "is_admin", "active", "locale")
    form_extra_fields = {"new_password": PasswordField(_l("New password"))}
    column_labels = {
        "is_admin": _l("Administrator"),
        "active": _l("Active"),
        "last_login_at": _l("Last sign-in"),
    }
    allow_delete = False

    def __init__(self, **kwargs):
        super().__init__(
            User, name=_l("Users"), endpoint="user", category=_l("Settings"), **kwargs
        )

    def on_model_change(self, form, model, is_created):
        password = form.new_password.data
        if is_created and not password:
            raise ServiceError("A new user needs a password.")
        if password:
            services.set_password(model, password)


def views():
    yield UserView()
