"""Forms of the order page: payment, card charge, refund, void and credit.

Amounts are read as text and turned into exact Decimals of the order's
currency by ``money.parse_amount`` (never through a float). The site-wide
CSRF protection covers every POST, so these forms carry no token of their own.
"""

from decimal import Decimal

from flask_admin.contrib.sqla.fields import InlineModelFormList
from flask_admin.contrib.sqla.form import InlineModelConverter
from flask_admin.model.widgets import RenderTemplateWidget
from flask_babel import lazy_gettext as _l
from wtforms import (
    DecimalField,
    Form,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, Optional

from crm.sales.models import MANUAL_METHODS

NEEDED = _l("This field is required.")
CENT = Decimal("0.01")


class PaymentForm(Form):
    amount = StringField(_l("Amount"), validators=[InputRequired(NEEDED)])
    method = SelectField(_l("Payment type"), choices=MANUAL_METHODS)
    note = StringField(_l("Note"), validators=[Optional(), Length(max=500)])


class ChargeForm(Form):
    amount = StringField(_l("Amount"), validators=[InputRequired(NEEDED)])
    card_number = StringField(_l("Card number"), validators=[InputRequired(NEEDED)])
    # One key per rendered form: submitting it twice charges once.
    idempotency_key = HiddenField(validators=[Optional(), Length(max=100)])


class RefundForm(Form):
    amount = StringField(
        _l("Amount (empty for the full remaining amount)"), validators=[Optional()]
    )
    reason = TextAreaField(
        _l("Reason"), validators=[InputRequired(NEEDED), Length(max=1000)]
    )


class VoidForm(Form):
    reason = StringField(_l("Reason"), validators=[Optional(), Length(max=1000)])


class CreditForm(Form):
    amount = StringField(_l("Amount"), validators=[InputRequired(NEEDED)])
    reason = TextAreaField(
        _l("Reason"), validators=[InputRequired(NEEDED), Length(max=1000)]
    )


class UnitPriceField(DecimalField):
    """A line's price per unit; empty (never a pre-filled 0) means the product's."""

    def __init__(self, *args, default=None, **kwargs):
        super().__init__(*args, **kwargs)

    def _value(self):
        if self.raw_data:
            return self.raw_data[0]
        if self.data is None:
            return ""
        # Stored with three decimals; show cents when nothing is lost.
        cents = self.data.quantize(CENT)
        return str(cents if cents == self.data else self.data)


class LineFormList(InlineModelFormList):
    """The order's lines, rendered without inline handlers (the CSP refuses them)."""

    widget = RenderTemplateWidget("contacts/inline_field_list.html")
    add_label = _l("Add a line")


class LineConverter(InlineModelConverter):
    inline_field_list_type = LineFormList
