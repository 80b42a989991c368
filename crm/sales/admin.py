"""Admin screens: products, orders with inline lines, the order page and invoice."""

import logging
import uuid

from flask import abort, current_app, flash, make_response, redirect, request, url_for
from flask_admin import expose
from flask_admin.contrib.sqla.validators import Unique
from flask_admin.model.form import InlineFormAdmin
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import lazy_pgettext
from flask_login import current_user
from sqlalchemy import or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import selectinload
from wtforms import SelectField
from wtforms.validators import (
    InputRequired,
    Length,
    NumberRange,
    Optional,
    ValidationError,
)

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts.models import Contact
from crm.core.admin import SecuredAjaxLoader, SecuredModelView
from crm.core.errors import ServiceError
from crm.core.text import fold, stored_message
from crm.extensions import db
from crm.links.record import contact_lookup
from crm.partners.models import ACTIVE, ReferralPartner
from crm.sales import forms, invoices, record, services  # noqa: F401  (record: tab)
from crm.sales.models import (
    KIND_LABELS,
    LINE_KINDS,
    METHOD_LABELS,
    ORDER_STATUSES,
    STATE_LABELS,
    STATE_WORDS,
    Order,
    OrderLine,
    Product,
)
from crm.sales.money import Money, MoneyError, check_currency, parse_amount

log = logging.getLogger(__name__)

SALES = _l("Sales")

ENDPOINT = "order"


def format_money(money: Money) -> str:
    """A Money value in the reader's locale."""
    return money.format()


def _amount_column(attribute):
    def formatter(view, context, model, name):
        summary = services.summarise(model, model.transactions)
        return format_money(getattr(summary, attribute))

    return formatter


class ProductView(SecuredModelView):
    """The catalogue: name, SKU, price in one currency, tax setting."""

    column_list = ("name", "sku", "price", "currency", "taxable", "tax_rate", "active")
    column_labels = {
        "name": _l("Name"),
        "sku": _l("SKU"),
        "description": _l("Description"),
        "price": _l("Price"),
        "currency": _l("Currency"),
        "taxable": _l("Taxable"),
        "tax_rate": _l("Tax rate (%)"),
        "active": _l("Active"),
        "created_at": _l("Created"),
    }
    column_searchable_list = ("name", "sku")
    column_default_sort = "name"
    form_columns = (
        "name",
        "sku",
        "description",
        "price",
        "currency",
        "taxable",
        "tax_rate",
        "active",
    )
    form_args = {
        "name": {"validators": [InputRequired(), Length(max=200)]},
        "currency": {"default": "USD", "validators": [Length(min=3, max=3)]},
        "tax_rate": {
            "validators": [
                NumberRange(min=0, max=100, message=_l("A tax rate is 0 to 100 %."))
            ]
        },
        "price": {
            "validators": [
                InputRequired(),
                NumberRange(min=0, message=_l("Prices are never negative.")),
            ]
        },
    }
    column_descriptions = {
        "tax_rate": _l("Applied to each line of this product when it is taxable."),
    }
    column_formatters = {
        "price": lambda v, c, m, n: format_money(Money(m.price, m.currency)),
    }
    form_overrides = {"price": forms.UnitPriceField}
    can_view_details = False

    def __init__(self):
        super().__init__(
            Product, name=_l("Products"), endpoint="product", category=SALES
        )

    def create_form(self, obj=None):
        return _own_sku_message(super().create_form(obj))

    def edit_form(self, obj=None):
        return _own_sku_message(super().edit_form(obj))

    def on_model_change(self, form, model, is_created):
        try:
            model.currency = check_currency(model.currency)
            if model.price is not None:
                model.price = parse_amount(str(model.price), model.currency)
        except MoneyError as exc:
            raise ValidationError(exc.message) from None
        model.sku = (model.sku or "").strip() or None
        if model.sku:
            with db.session.no_autoflush:
                other = db.session.scalar(
                    select(Product).where(
                        Product.sku == model.sku, Product.id != (model.id or 0)
                    )
                )
            if other is not None:
                raise ValidationError(
                    _(
                        "The SKU %(sku)s already belongs to %(name)s.",
                        sku=model.sku,
                        name=other.name,
                    )
                )


def _own_sku_message(form):
    # Flask-Admin's generic "Already exists." gives way to the message that
    # names the product holding the SKU (on_model_change).
    form.sku.validators = [v for v in form.sku.validators if not isinstance(v, Unique)]
    return form


class PartnerLookup(SecuredAjaxLoader):
    """Active referral partners the user may see, found by code or name."""

    def get_query(self):
        return super().get_query().filter(ReferralPartner.status == ACTIVE)

    def get_list(self, term, offset=0, limit=10):
        cap = current_app.config["LOOKUP_PAGE_CAP"]
        limit = max(1, min(limit or cap, cap))
        text = f"%{fold(term or '')}%"
        return (
            self.get_query()
            .join(ReferralPartner.contact)
            .filter(
                or_(
                    ReferralPartner.code_key.like(text),
                    Contact.search_text.like(text),
                )
            )
            .order_by(ReferralPartner.code_key)
            .offset(max(offset or 0, 0))
            .limit(limit)
            .all()
        )

    def format(self, model):
        if model is None:
            return None
        return model.id, str(model)


def partner_lookup(name: str) -> PartnerLookup:
    return PartnerLookup(
        name,
        db,
        ReferralPartner,
        fields=("code_key",),
        page_size=10,
        minimum_input_length=0,
        placeholder=_l("Type a partner code or name"),
    )


def known_partner(form, field):
    """A posted partner id the picker cannot load is refused, never dropped."""
    raw = getattr(field, "_formdata", None)
    if raw not in (None, "", "__None") and field.data is None:
        raise ValidationError(_("Choose an active referral partner from the list."))


def _partner_column(attribute):
    def formatter(view, context, model, name):
        return services.partner_label(
            getattr(model, attribute), services.visible_partners([model], current_user)
        )

    return formatter


class LineInline(InlineFormAdmin):
    form_columns = ("id", "kind", "product", "description", "quantity", "unit_price")
    form_label = _l("Line")
    column_labels = {
        "kind": _l("Kind"),
        "product": _l("Product"),
        "description": _l("Description"),
        "quantity": _l("Quantity"),
        "unit_price": _l("Price per unit"),
    }
    form_overrides = {"kind": SelectField, "unit_price": forms.UnitPriceField}
    form_args = {
        "kind": {"choices": LINE_KINDS, "label": _l("Kind")},
        "quantity": {
            "default": 1,
            "validators": [
                NumberRange(min=1, message=_l("The quantity is 1 or more."))
            ],
        },
        "unit_price": {
            "places": None,
            "validators": [Optional()],
            "description": _l("Empty: the product's price."),
        },
        "product": {
            "query_factory": lambda: (
                db.session.query(Product)
                .filter(Product.active.is_(True))
                .order_by(Product.name)
            )
        },
    }


class OrderView(SecuredModelView):
    """Orders of contacts: list, create and edit with lines, the order page."""

    details_template = "sales/order.html"
    create_template = "sales/order_form.html"
    edit_template = "sales/order_form.html"
    column_list = (
        "invoice_number",
        "title",
        "contact",
        "order_date",
        "status",
        "total",
        "due",
        "sales_partner",
    )
    column_labels = {
        "invoice_number": _l("Invoice"),
        "title": _l("Title"),
        "contact": _l("Contact"),
        "order_date": _l("Order date"),
        "status": _l("Status"),
        "currency": _l("Currency"),
        "notes": _l("Notes"),
        "terms": _l("Terms"),
        "lines": _l("Lines"),
        "total": _l("Total"),
        "due": lazy_pgettext("money", "Due"),
        "lead_partner": _l("Lead partner"),
        "sales_partner": _l("Sales partner"),
    }
    column_formatters = {
        "lead_partner": _partner_column("lead_partner_id"),
        "sales_partner": _partner_column("sales_partner_id"),
        "total": _amount_column("total"),
        "due": _amount_column("due"),
        "status": lambda v, c, m, n: dict(ORDER_STATUSES).get(m.status, m.status),
    }
    column_sortable_list = ("invoice_number", "title", "order_date", "status")
    column_searchable_list = ("title",)
    column_default_sort = ("invoice_number", True)
    column_filters = ("status", "order_date")
    form_columns = (
        "contact",
        "title",
        "order_date",
        "currency",
        "status",
        "notes",
        "terms",
        "lead_partner",
        "sales_partner",
        "lines",
    )
    form_choices = {"status": [(k, str(v)) for k, v in ORDER_STATUSES]}
    form_args = {
        "title": {"validators": [InputRequired(), Length(max=200)]},
        "currency": {"default": "USD", "validators": [Length(min=3, max=3)]},
        "lead_partner": {
            "validators": [known_partner],
            "description": _l("The referral partner who brought this buyer."),
        },
        "sales_partner": {
            "validators": [known_partner],
            "description": _l("Earns this sale's commission when it is paid."),
        },
    }
    inline_models = (LineInline(OrderLine),)
    inline_model_form_converter = forms.LineConverter

    def __init__(self):
        self.form_ajax_refs = {
            "contact": contact_lookup("contact"),
            "lead_partner": partner_lookup("lead_partner"),
            "sales_partner": partner_lookup("sales_partner"),
        }
        super().__init__(Order, name=_l("Orders"), endpoint=ENDPOINT, category=SALES)

    def get_query(self):
        # Lines and transactions in two queries per page, not two per row.
        return (
            super()
            .get_query()
            .options(selectinload(Order.lines), selectinload(Order.transactions))
        )

    # Forms.
    def create_form(self, obj=None):
        form = super().create_form(obj)
        if request.method == "GET" and request.args.get("contact_id"):
            contact = contacts.get_visible(
                request.args.get("contact_id"), current_user, policy.EDIT
            )
            if contact is not None:
                form.contact.data = contact
        return form

    def edit_form(self, obj=None):
        form = super().edit_form(obj)
        # An order stays with its contact; a new order is made for another.
        del form.contact
        return form

    def on_model_change(self, form, model, is_created):
        if is_created:
            contact = model.contact
            with db.session.no_autoflush:
                editable = contact is not None and contacts.get_visible(
                    contact.id, current_user, policy.EDIT
                )
            if not editable:
                raise ValidationError(_("You may not add orders for this contact."))
        try:
            services.save_order(model, current_user, is_new=is_created)
        except ServiceError as exc:
            raise ValidationError(exc.message) from None

    def on_model_delete(self, model):
        services.check_deletable(model)
        log.info(
            "order %s (#%s) deleted by %s",
            model.id,
            model.invoice_number,
            current_user.email,
        )

    # The order page.
    def page_context(self, order) -> dict:
        """What the order page shows besides the order itself."""
        rows = services.transactions_of(order)
        summary = services.summarise(order, rows)
        can_edit = (
            services.get_visible_order(order.id, current_user, policy.EDIT) is not None
        )
        refundable = {
            row.id: services.refundable(row, rows)
            for row in rows
            if row.kind == "payment" and row.state == "settled"
        }
        partners = services.visible_partners([order], current_user)
        return {
            "lead_partner": services.partner_label(order.lead_partner_id, partners),
            "sales_partner": services.partner_label(order.sales_partner_id, partners),
            "summary": summary,
            "transactions": rows,
            "refundable": refundable,
            "can_edit": can_edit,
            "fmt": format_money,
            "methods": METHOD_LABELS,
            "state_labels": STATE_LABELS,
            "kind_labels": KIND_LABELS,
            "kinds": dict(LINE_KINDS),
            "statuses": dict(ORDER_STATUSES),
            "payment_form": forms.PaymentForm(),
            "charge_form": forms.ChargeForm(idempotency_key=uuid.uuid4().hex),
            "credit_form": forms.CreditForm(),
        }

    def _order(self, order_id, action=policy.EDIT) -> Order:
        order = services.get_visible_order(order_id, current_user, action)
        if order is None:
            abort(404)
        return order

    def _back(self, order, message, category="error"):
        flash(message, category)
        return redirect(url_for(".details_view", id=order.id))

    def _apply(self, order, form, work, done):
        """Validate ``form``, run ``work(amount_or_none)``, commit, flash."""
        if not form.validate():
            errors = [
                f"{field.label.text}: {error}"
                for field in form
                for error in field.errors
            ]
            return self._back(order, " ".join(errors))
        try:
            raw = getattr(form, "amount", None)
            amount = (
                parse_amount(raw.data, order.currency)
                if raw is not None and (raw.data or "").strip()
                else None
            )
            row = work(amount)
        except ServiceError as exc:
            db.session.rollback()
            return self._back(order, exc.message)
        except OperationalError:
            # SQLite answers a second writer "database is locked" after its
            # busy timeout instead of queueing it like PostgreSQL does.
            log.warning("order %s was busy", order.id, exc_info=True)
            db.session.rollback()
            return self._back(
                order,
                _(
                    "Someone else is changing this order right now; nothing was "
                    "saved. Try again in a moment."
                ),
            )
        db.session.commit()
        if row.state in ("declined", "failed"):
            return self._back(
                order,
                _(
                    "The charge did not go through: %(why)s",
                    why=stored_message(row.message),
                ),
            )
        return self._back(order, done(row), "success")

    @expose("/<int:order_id>/payment", methods=("POST",))
    def payment(self, order_id):
        order = self._order(order_id)
        form = forms.PaymentForm(request.form)
        return self._apply(
            order,
            form,
            lambda amount: services.record_payment(
                order, amount, form.method.data, current_user, form.note.data or ""
            ),
            lambda row: _(
                "Payment of %(amount)s recorded.", amount=format_money(row.money)
            ),
        )

    @expose("/<int:order_id>/charge", methods=("POST",))
    def charge(self, order_id):
        order = self._order(order_id)
        form = forms.ChargeForm(request.form)
        return self._apply(
            order,
            form,
            lambda amount: services.charge(
                order,
                amount,
                form.card_number.data,
                current_user,
                form.idempotency_key.data or None,
            ),
            lambda row: _(
                "Card charged: %(amount)s (%(state)s).",
                amount=format_money(row.money),
                state=STATE_WORDS[row.state],
            ),
        )

    @expose("/<int:order_id>/refund/<int:payment_id>", methods=("POST",))
    def refund(self, order_id, payment_id):
        order = self._order(order_id)
        form = forms.RefundForm(request.form)
        return self._apply(
            order,
            form,
            lambda amount: services.refund(
                order, payment_id, amount, form.reason.data, current_user
            ),
            lambda row: _(
                "Refund of %(amount)s recorded.", amount=format_money(row.money)
            ),
        )

    @expose("/<int:order_id>/void/<int:payment_id>", methods=("POST",))
    def void(self, order_id, payment_id):
        order = self._order(order_id)
        form = forms.VoidForm(request.form)
        return self._apply(
            order,
            form,
            lambda amount: services.void(
                order, payment_id, form.reason.data, current_user
            ),
            lambda row: _("The pending charge was voided."),
        )

    @expose("/<int:order_id>/credit", methods=("POST",))
    def credit(self, order_id):
        order = self._order(order_id)
        form = forms.CreditForm(request.form)
        return self._apply(
            order,
            form,
            lambda amount: services.credit(
                order, amount, form.reason.data, current_user
            ),
            lambda row: _(
                "Credit of %(amount)s applied.", amount=format_money(row.money)
            ),
        )

    @expose("/<int:order_id>/invoice/email", methods=("POST",))
    def email_invoice(self, order_id):
        from crm.mail.services import MailFailed

        order = self._order(order_id)
        try:
            message = invoices.email_invoice(order, current_user)
        except MailFailed as exc:
            # The failed message stays on the record.
            db.session.commit()
            return self._back(order, _("Not sent: %(reason)s", reason=exc.message))
        except ServiceError as exc:
            db.session.rollback()
            return self._back(order, exc.message)
        db.session.commit()
        if message.state == "outbox":
            return self._back(
                order,
                _(
                    "Demo mode: the invoice to %(to)s is in the outbox.",
                    to=message.address,
                ),
                "success",
            )
        return self._back(
            order, _("Invoice e-mailed to %(to)s.", to=message.address), "success"
        )

    @expose("/<int:order_id>/invoice")
    def invoice(self, order_id):
        order = self._order(order_id, policy.VIEW)
        return self.render(
            "sales/invoice.html",
            order=order,
            invoice=invoices.invoice_data(order),
            pdf_url=url_for(".invoice_pdf", order_id=order.id),
        )

    @expose("/<int:order_id>/invoice.pdf")
    def invoice_pdf(self, order_id):
        order = self._order(order_id, policy.VIEW)
        response = make_response(invoices.invoice_pdf(order))
        response.headers["Content-Type"] = "application/pdf"
        response.headers["Content-Disposition"] = (
            f'attachment; filename="{invoices.pdf_filename(order)}"'
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def views():
    yield OrderView()
    yield ProductView()
