"""Admin screens: partners, commission rules and commissions, the partner
summary, attribution settings and allowed link destinations."""

import logging

from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms.validators import NumberRange, Optional

from crm.access import policy
from crm.contacts import services as contacts
from crm.core.admin import SecuredModelView, SecuredView
from crm.core.errors import ServiceError
from crm.extensions import db
from crm.links.record import contact_lookup
from crm.partners import record, services
from crm.partners.models import (
    FIRST,
    FIXED,
    LATEST,
    PERCENT,
    Commission,
    CommissionRule,
    PartnerSettings,
    ReferralPartner,
    TrackingDestination,
)

log = logging.getLogger(__name__)

CATEGORY = _l("Referral partners")
STATUS_CHOICES = [("inactive", _l("Inactive")), ("active", _l("Active"))]


def _partner_cell(view, context, model, name):
    """A related partner, or a placeholder when its contact is hidden."""
    partner = getattr(model, name)
    if partner is None:
        return ""
    if partner.id not in record.visible_partner_ids({partner.id}):
        return Markup('<span class="crm-muted">{}</span>').format(
            _("Restricted record")
        )
    return str(partner)


def _link_cell(view, context, model, name):
    return Markup("<code>{}</code>").format(record.tracking_link(model))


def _status_cell(view, context, model, name):
    return _("Active") if model.is_active else _("Inactive")


class ReferralPartnerView(SecuredModelView):
    """Referral partners; each follows the visibility of its contact."""

    column_list = ("code", "contact", "status", "parent", "track_days", "link")
    column_labels = {
        "code": _l("Partner code"),
        "contact": _l("Contact"),
        "status": _l("Status"),
        "parent": _l("Parent partner"),
        "notify_on_lead": _l("Notify on a new lead"),
        "notify_on_sale": _l("Notify on a sale"),
        "track_days": _l("Tracking window (days)"),
        "link": _l("Tracking link"),
        "created_at": _l("Created"),
    }
    column_descriptions = {
        "code": _l(
            "Starts with a letter, no spaces, at least 4 characters; it is the "
            "end of the partner's tracking link."
        ),
        "track_days": _l("How long a click counts. Blank: no limit."),
    }
    column_details_list = (
        "code",
        "contact",
        "status",
        "parent",
        "notify_on_lead",
        "notify_on_sale",
        "track_days",
        "link",
        "created_at",
    )
    column_formatters = {
        "parent": _partner_cell,
        "link": _link_cell,
        "status": _status_cell,
    }
    column_formatters_detail = column_formatters
    column_searchable_list = ("code",)
    column_sortable_list = ("code", "status", "track_days")
    column_default_sort = "code"
    form_columns = (
        "contact",
        "code",
        "status",
        "parent",
        "notify_on_lead",
        "notify_on_sale",
        "track_days",
    )
    form_choices = {"status": STATUS_CHOICES}
    form_args = {
        "track_days": {
            "validators": [
                Optional(),
                NumberRange(min=1, message=_l("The tracking window is 1 day or more.")),
            ]
        }
    }

    def __init__(self):
        self.form_ajax_refs = {"contact": contact_lookup("contact")}
        super().__init__(
            ReferralPartner,
            name=_l("Partners"),
            endpoint="referral_partner",
            url="/admin/referral-partners",
            category=CATEGORY,
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            contact_id = model.contact.id if model.contact else None
            if contact_id is not None and (
                contacts.get_visible(contact_id, current_user, policy.EDIT) is None
            ):
                raise ServiceError(_("You may not change that contact."))
            services.check_partner(model)

    def after_model_change(self, form, model, is_created):
        log.info(
            "partner %s %s by %s",
            model.code,
            "created" if is_created else "changed",
            current_user.id,
        )

    def on_model_delete(self, model):
        services.delete_partner_allowed(model)


class CommissionRuleView(SecuredModelView):
    """Commission per sale: one default rule and one rule per partner at most."""

    column_list = ("partner", "kind", "percent", "amount", "currency")
    column_labels = {
        "partner": _l("Partner (blank: every partner)"),
        "kind": _l("Commission"),
        "percent": _l("Percentage of the sale"),
        "amount": _l("Amount per sale"),
        "currency": _l("Currency"),
    }
    column_formatters = {
        "partner": _partner_cell,
        "kind": lambda v, c, m, n: (
            _("Percentage") if m.kind == PERCENT else _("Fixed amount")
        ),
    }
    form_columns = ("partner", "kind", "percent", "amount", "currency")
    form_choices = {"kind": [(PERCENT, _l("Percentage")), (FIXED, _l("Fixed amount"))]}
    can_view_details = False

    def __init__(self):
        super().__init__(
            CommissionRule,
            name=_l("Commission rules"),
            endpoint="commission_rule",
            url="/admin/commission-rules",
            category=CATEGORY,
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            services.check_rule(model)


class CommissionView(SecuredModelView):
    """Commissions earned and reversed; written only by the order services."""

    column_list = ("partner", "order_id", "state", "amount", "currency", "created_at")
    column_labels = {
        "partner": _l("Partner"),
        "order_id": _l("Order"),
        "state": _l("State"),
        "amount": _l("Amount"),
        "currency": _l("Currency"),
        "created_at": _l("When"),
    }
    column_formatters = {
        "partner": _partner_cell,
        "state": lambda v, c, m, n: (
            _("Earned") if m.state == "earned" else _("Reversed")
        ),
    }
    column_default_sort = ("created_at", True)
    allow_create = False
    allow_edit = False
    allow_delete = False
    allow_export = True
    can_view_details = False

    def __init__(self):
        super().__init__(
            Commission,
            name=_l("Commissions"),
            endpoint="commission",
            url="/admin/commissions",
            category=CATEGORY,
        )


class PartnerSettingsView(SecuredModelView):
    """How referrals are credited: administrators only."""

    required_role = "admin"
    column_list = ("credit", "use_history", "landing_url")
    column_labels = {
        "credit": _l("Which partner gets the credit"),
        "use_history": _l("Use referral history when there is no cookie"),
        "landing_url": _l("Default landing page"),
    }
    column_descriptions = {
        "landing_url": _l(
            "Where a tracking link goes when its destination is missing or not "
            "allowed; it must itself be an allowed destination."
        ),
    }
    column_formatters = {
        "credit": lambda v, c, m, n: (
            _("First referring partner")
            if m.credit == FIRST
            else _("Latest referring partner")
        ),
    }
    form_columns = ("credit", "use_history", "landing_url")
    form_choices = {
        "credit": [
            (LATEST, _l("Latest referring partner")),
            (FIRST, _l("First referring partner")),
        ]
    }
    allow_create = False
    allow_delete = False
    can_view_details = False

    def __init__(self):
        super().__init__(
            PartnerSettings,
            name=_l("Partner settings"),
            endpoint="partner_settings",
            url="/admin/partner-settings",
            category=CATEGORY,
        )

    def on_model_change(self, form, model, is_created):
        services.check_settings(model)


class TrackingDestinationView(SecuredModelView):
    """Sites and URL prefixes tracking links may send visitors to."""

    required_role = "admin"
    column_list = ("prefix", "created_at")
    column_labels = {"prefix": _l("Allowed destination"), "created_at": _l("Added")}
    column_descriptions = {
        "prefix": _l(
            "A full address such as https://www.example.com or "
            "https://www.example.com/shop; links may lead to it and below it."
        ),
    }
    form_columns = ("prefix",)
    can_view_details = False

    def __init__(self):
        super().__init__(
            TrackingDestination,
            name=_l("Link destinations"),
            endpoint="tracking_destination",
            url="/admin/link-destinations",
            category=CATEGORY,
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            services.check_destination(model)


class PartnerSummaryView(SecuredView):
    """Per partner the user may see: referrals, orders and commission."""

    def __init__(self):
        super().__init__(
            name=_l("Partner summary"),
            endpoint="partner_summary",
            url="/admin/partner-summary",
            category=CATEGORY,
        )

    @expose("/")
    def index(self):
        ids = list(
            db.session.scalars(
                select(ReferralPartner.id).where(
                    policy.scope(ReferralPartner, current_user)
                )
            )
        )
        return self.render("partners/summary.html", rows=services.summary_rows(ids))


def views():
    yield ReferralPartnerView()
    yield CommissionRuleView()
    yield CommissionView()
    yield PartnerSummaryView()
    yield PartnerSettingsView()
    yield TrackingDestinationView()
    yield record.ContactReferralsView()
