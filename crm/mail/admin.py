"""Mail screens: compose from the record, messages, outbox, templates, statuses."""

import logging

from flask import abort, flash, redirect, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from wtforms import SelectField, TextAreaField

from crm.access import policy
from crm.core.admin import SecuredModelView
from crm.core.db import utcnow
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.mail import compose, merge, services, statuses
from crm.mail.forms import PURPOSE_CHOICES, StatusChangeForm
from crm.mail.models import EmailAddressStatus, EmailTemplate, Message

logger = logging.getLogger(__name__)

CATEGORY = _l("E-mail")


def _status_label(view, context, model, name):
    return statuses.label(getattr(model, name))


PURPOSE_LABELS = {choice.value: choice.label for choice in PURPOSE_CHOICES}
STATE_LABELS = {
    "queued": _l("Queued"),
    "sent": _l("Sent"),
    "outbox": _l("In the outbox"),
    "failed": _l("Failed"),
}


def _purpose(view, context, model, name):
    return PURPOSE_LABELS.get(model.purpose, model.purpose)


def _state(view, context, model, name):
    return STATE_LABELS.get(model.state, model.state)


def _opens(view, context, model, name):
    return ", ".join(o.at.strftime("%Y-%m-%d %H:%M UTC") for o in model.opens) or "-"


def _clicks(view, context, model, name):
    return (
        "; ".join(
            f"{c.at.strftime('%Y-%m-%d %H:%M UTC')} {c.url}" for c in model.clicks
        )
        or "-"
    )


def _attachments(view, context, model, name):
    return (
        ", ".join(
            f"{a.filename} ({services.human_size(a.size)})" for a in model.attachments
        )
        or "-"
    )


class MessageView(SecuredModelView):
    """Every e-mail sent to the contacts the user may see, with its engagement."""

    allow_create = False
    allow_edit = False
    allow_delete = False
    column_list = (
        "created_at",
        "contact",
        "address",
        "subject",
        "purpose",
        "state",
        "open_count",
        "click_count",
    )
    column_details_list = (
        "created_at",
        "sent_at",
        "contact",
        "address",
        "cc",
        "subject",
        "purpose",
        "state",
        "error",
        "text",
        "attachments",
        "open_count",
        "last_open_at",
        "opens",
        "click_count",
        "last_click_at",
        "clicks",
    )
    column_labels = {
        "created_at": _l("Created"),
        "sent_at": _l("Sent"),
        "contact": _l("Contact"),
        "address": _l("To"),
        "cc": _l("Copy"),
        "subject": _l("Subject"),
        "purpose": _l("Kind"),
        "state": _l("State"),
        "error": _l("Error"),
        "text": _l("Text"),
        "attachments": _l("Attachments"),
        "open_count": _l("Opens"),
        "last_open_at": _l("Last open"),
        "opens": _l("Open times"),
        "click_count": _l("Clicks"),
        "last_click_at": _l("Last click"),
        "clicks": _l("Clicked links"),
    }
    column_formatters = {
        "purpose": _purpose,
        "state": _state,
        "opens": _opens,
        "clicks": _clicks,
        "attachments": _attachments,
    }
    column_searchable_list = ("subject", "address")
    column_filters = ("state", "purpose")
    column_default_sort = ("created_at", True)

    def __init__(self, name=None, endpoint="message", **kwargs):
        super().__init__(
            Message,
            name=name or _l("Sent e-mail"),
            endpoint=endpoint,
            category=CATEGORY,
            **kwargs,
        )


class OutboxView(MessageView):
    """Demo mode: the messages that would have been sent."""

    def __init__(self):
        super().__init__(name=_l("Outbox"), endpoint="outbox", url="/admin/outbox")

    def get_query(self):
        return super().get_query().filter(Message.state == "outbox")

    def get_count_query(self):
        return super().get_count_query().filter(Message.state == "outbox")


class EmailTemplateView(SecuredModelView):
    """Templates with merge fields; users pick them on the compose screen."""

    column_list = ("name", "subject", "purpose", "updated_at")
    column_labels = {
        "name": _l("Name"),
        "subject": _l("Subject"),
        "purpose": _l("Kind"),
        "html": _l("Body (HTML)"),
        "updated_at": _l("Updated"),
    }
    column_descriptions = {
        "html": _l(
            "Merge fields: {{ contact.given_name }}, {{ contact.custom.FIELD }}, "
            "{{ owner.name }}, {{ linked.given_name }}, or ~Contact.FirstName~."
        )
    }
    column_searchable_list = ("name", "subject")
    column_formatters = {"purpose": _purpose}
    form_columns = ("name", "subject", "purpose", "html")
    form_overrides = {"purpose": SelectField, "html": TextAreaField}
    form_args = {"purpose": {"choices": PURPOSE_CHOICES}}
    form_widget_args = {"html": {"rows": 12}}

    def __init__(self):
        super().__init__(
            EmailTemplate,
            name=_l("E-mail templates"),
            endpoint="email_template",
            category=CATEGORY,
        )

    def on_model_change(self, form, model, is_created):
        model.name = (model.name or "").strip()
        if not model.name:
            raise ServiceError(_("A template needs a name."))
        with db.session.no_autoflush:
            other = db.session.scalar(
                db.select(EmailTemplate).where(EmailTemplate.name == model.name)
            )
        if other is not None and other is not model:
            raise ServiceError(
                _("A template named %(name)s already exists.", name=model.name)
            )
        model.html = merge.sanitise(model.html)
        merge.check(model.subject or "", model.html)
        model.updated_at = utcnow()


class AddressStatusView(SecuredModelView):
    """E-mail status per address, its history, and opting in or out by hand."""

    allow_create = False
    allow_edit = False
    allow_delete = False
    column_list = (
        "address",
        "status",
        "changed_at",
        "last_sent_at",
        "last_open_at",
        "last_click_at",
        "soft_bounces",
        "hard_bounces",
    )
    column_details_list = (*column_list, "reason", "changes")
    column_labels = {
        "address": _l("Address"),
        "status": _l("Status"),
        "reason": _l("Reason"),
        "changed_at": _l("Changed"),
        "last_sent_at": _l("Last sent"),
        "last_open_at": _l("Last open"),
        "last_click_at": _l("Last click"),
        "soft_bounces": _l("Soft bounces"),
        "hard_bounces": _l("Hard bounces"),
        "changes": _l("History"),
    }
    column_formatters = {
        "status": _status_label,
        "changes": lambda v, c, model, n: "; ".join(
            f"{ch.at:%Y-%m-%d %H:%M} {statuses.label(ch.old_status or '')} -> "
            f"{statuses.label(ch.new_status)} ({ch.source}) {ch.reason}"
            for ch in model.changes
        ),
    }
    column_searchable_list = ("address",)
    column_filters = ("status",)
    details_template = "mail/status_details.html"

    def __init__(self):
        super().__init__(
            EmailAddressStatus,
            name=_l("Address statuses"),
            endpoint="email_status",
            category=CATEGORY,
        )

    def may_change(self, row) -> bool:
        """Whether the user edits a contact holding this address."""
        found = db.session.scalar(
            db.select(EmailAddressStatus.id).where(
                EmailAddressStatus.id == row.id,
                policy.scope(EmailAddressStatus, current_user, policy.EDIT),
            )
        )
        return found is not None

    def _editable_contact(self, row) -> int:
        from crm.contacts.models import Contact, ContactEmail

        return db.session.scalar(
            db.select(ContactEmail.contact_id)
            .where(
                ContactEmail.normalized == row.address,
                ContactEmail.contact_id.in_(
                    policy.visible_ids(Contact, current_user, policy.EDIT)
                ),
            )
            .order_by(ContactEmail.contact_id)
            .limit(1)
        )

    @expose("/change/", methods=("POST",))
    def change(self):
        row = self.get_one(request.form.get("id"))
        if row is None:
            abort(404)
        form = StatusChangeForm()
        if not form.validate_on_submit():
            abort(400)
        operation = request.form.get("operation")
        try:
            if operation == "opt_in":
                services.opt_in(row.address, form.reason.data, current_user.id)
                message = _("%(address)s is opted in.", address=row.address)
            elif operation == "confirm":
                contact_id = self._editable_contact(row)
                services.send_confirmation(contact_id, row.address, current_user.id)
                message = _(
                    "A confirmation link was sent to %(address)s.", address=row.address
                )
            elif operation == "opt_out":
                services.opt_out(row.address, current_user.id, form.reason.data)
                message = _("%(address)s is opted out.", address=row.address)
            else:
                abort(400)
            db.session.commit()
            flash(message, "success")
        except ServiceError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        return redirect(url_for(".details_view", id=row.id))


def views():
    yield compose.ComposeView()
    yield MessageView()
    yield OutboxView()
    yield EmailTemplateView()
    yield AddressStatusView()
