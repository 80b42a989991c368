"""Sign-in form and the forms of the user's own account page."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, ValidationError

from crm.auth import services
from crm.auth.passwords import MIN_LENGTH
from crm.core.i18n import interface_language, interface_languages


class LoginForm(FlaskForm):
    email = EmailField(_l("E-mail"), validators=[DataRequired()])
    password = PasswordField(_l("Password"), validators=[DataRequired()])


def language_choices() -> list[SelectChoice]:
    """The browser's language, then each language the interface ships by its name."""
    pairs = [("", _l("Browser's language")), *interface_languages()]
    return [SelectChoice(value=value, label=str(label)) for value, label in pairs]


class LanguageField(SelectField):
    """A user's interface language: one the interface ships, or "" for the
    browser's. A stored "es_MX" shows as Spanish, the language it is served in,
    so saving the form unchanged keeps it Spanish."""

    def __init__(self, label=None, validators=None, **kwargs):
        # Flask-Admin's converter offers these to fields it builds itself.
        kwargs.pop("allow_blank", None)
        kwargs.pop("filters", None)
        super().__init__(label, validators, choices=language_choices, **kwargs)

    def process_data(self, value):
        self.data = interface_language(value) or ""

    def process_formdata(self, valuelist):
        if valuelist:
            self.data = valuelist[0].strip()

    def pre_validate(self, form):
        problem = services.language_problem(self.data)
        if problem:
            raise ValidationError(problem)


class LanguageForm(FlaskForm):
    locale = LanguageField(_l("Interface language"))


class PasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[DataRequired()]
    )
    new_password = PasswordField(
        _l("New password"),
        validators=[DataRequired()],
        description=_l(
            "At least %(n)s characters, not a common password.", n=MIN_LENGTH
        ),
    )
    repeated_password = PasswordField(
        _l("New password again"), validators=[DataRequired()]
    )
