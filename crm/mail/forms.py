"""The compose form and the address-status change form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    MultipleFileField,
    SelectChoice,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, Length

from crm.mail import statuses

PURPOSE_CHOICES = [
    SelectChoice(statuses.ONE_TO_ONE, _l("One-to-one")),
    SelectChoice(statuses.MARKETING, _l("Marketing")),
]


class ComposeForm(FlaskForm):
    to = SelectField(_l("To"), coerce=str, validate_choice=True)
    cc = SelectField(_l("Copy a linked contact"), coerce=str, validate_choice=True)
    template_id = HiddenField()
    purpose = SelectField(_l("Kind of e-mail"), choices=PURPOSE_CHOICES)
    subject = StringField(
        _l("Subject"),
        validators=[
            DataRequired(message=_l("An e-mail needs a subject.")),
            Length(max=255, message=_l("The subject is at most 255 characters.")),
        ],
    )
    body = TextAreaField(
        _l("Message"),
        validators=[DataRequired(message=_l("Write the message before sending."))],
    )
    attachments = MultipleFileField(_l("Attachments"))


class StatusChangeForm(FlaskForm):
    reason = StringField(_l("Reason"), validators=[Length(max=500)])
