"""The Referral partners tab of the contact record: who referred the contact.

The tab lists the contact's referrals (partner, when, how, until when), lets
a user who may edit the contact add one by hand or remove one made by hand,
and, when the contact is a partner itself, shows its code, status and link.
"""

import logging

from flask import abort, flash, redirect, render_template, request, url_for
from flask_admin import expose
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.core.admin import SecuredView
from crm.core.errors import ServiceError
from crm.core.text import as_id
from crm.extensions import db
from crm.partners import services
from crm.partners.models import Referral, ReferralPartner

log = logging.getLogger(__name__)

ENDPOINT = "contact_referrals"
PICKER_LIMIT = 200
KIND_LABELS = services.KIND_LABELS


def visible_partner_ids(ids) -> set[int]:
    """The partners among ``ids`` the current user may see."""
    if not ids:
        return set()
    query = select(ReferralPartner.id).where(
        ReferralPartner.id.in_(list(ids)),
        policy.scope(ReferralPartner, current_user),
    )
    return set(db.session.scalars(query))


def tracking_link(partner) -> str:
    return url_for("partners.track", code=partner.code, _external=True)


def _picker_partners(contact):
    query = (
        select(ReferralPartner)
        .where(
            policy.scope(ReferralPartner, current_user),
            ReferralPartner.contact_id != contact.id,
        )
        .order_by(ReferralPartner.code_key)
        .limit(PICKER_LIMIT)
    )
    return db.session.scalars(query).all()


@tabs.renderer("referrals")
def render_referrals_tab(contact, tab_key):
    """The contact's referrals, the form to add one, and its own partner record."""
    referrals = services.referrals_of(contact.id)
    visible = visible_partner_ids({r.partner_id for r in referrals})
    can_edit = contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    own = services.partner_of_contact(contact.id)
    return Markup(
        render_template(
            "partners/tab.html",
            contact=contact,
            rows=[(r, r.partner_id in visible) for r in referrals],
            kind_labels=KIND_LABELS,
            can_edit=can_edit,
            partners=_picker_partners(contact) if can_edit else [],
            own=own,
            own_link=tracking_link(own) if own else None,
            own_edit_url=(
                url_for("referral_partner.edit_view", id=own.id)
                if own and policy.allowed(current_user, ReferralPartner, "edit")
                else None
            ),
            endpoint=ENDPOINT,
        )
    )


class ContactReferralsView(SecuredView):
    """The POST endpoints behind the Referral partners tab; not in the menu."""

    def __init__(self):
        super().__init__(
            name=_l("Contact referrals"), endpoint=ENDPOINT, url="/admin/referrals-of"
        )

    def is_visible(self):
        return False

    @expose("/")
    def index(self):
        return redirect(url_for("contact.index_view"))

    @expose("/<int:contact_id>/add", methods=("POST",))
    def add(self, contact_id):
        contact = self._contact(contact_id)
        partner = _visible_partner(request.form.get("partner_id"))
        if partner is None:
            return self._back(contact, _("Choose a referral partner from the list."))
        try:
            services.add_manual_referral(
                contact,
                partner,
                actor=current_user,
                permanent=bool(request.form.get("permanent")),
                description=request.form.get("description", ""),
            )
        except ServiceError as exc:
            db.session.rollback()
            return self._back(contact, exc.message)
        db.session.commit()
        return self._back(
            contact,
            _("Referral by %(code)s added.", code=partner.code),
            "success",
        )

    @expose("/<int:contact_id>/remove/<int:referral_id>", methods=("POST",))
    def remove(self, contact_id, referral_id):
        contact = self._contact(contact_id)
        referral = db.session.scalar(
            select(Referral).where(
                Referral.id == referral_id,
                Referral.contact_id == contact.id,
                policy.scope(Referral, current_user, policy.EDIT),
            )
        )
        if referral is None:
            return self._back(contact, _("That referral does not exist any more."))
        try:
            services.remove_referral(referral, actor=current_user)
        except ServiceError as exc:
            db.session.rollback()
            return self._back(contact, exc.message)
        db.session.commit()
        return self._back(contact, _("The referral was removed."), "success")

    def _contact(self, contact_id):
        contact = contacts.get_visible(contact_id, current_user, policy.EDIT)
        if contact is None:
            abort(404)
        return contact

    def _back(self, contact, message, category="error"):
        flash(message, category)
        return redirect(url_for("contact.details_view", id=contact.id, tab="referrals"))


def _visible_partner(raw_id) -> ReferralPartner | None:
    partner_id = as_id(raw_id)
    if partner_id is None:
        return None
    return db.session.scalar(
        select(ReferralPartner).where(
            ReferralPartner.id == partner_id,
            policy.scope(ReferralPartner, current_user),
        )
    )
