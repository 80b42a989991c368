"""E-mails to partners who asked for them: a new lead, a sale.

They go through the one send function of the mail domain, inside the unit
of work that made the referral or commission (the send function records the
message there). A mail that cannot go out (no address, a status that
forbids it, no server, a server that refuses) is logged and never undoes
the referral or commission that caused it.
"""

import logging

from flask_babel import gettext as _
from markupsafe import Markup

from crm.core.errors import ServiceError
from crm.core.i18n import format_money
from crm.mail import services as mail

log = logging.getLogger(__name__)


def _send(partner, subject: str, text: str) -> None:
    address = partner.contact.primary_email if partner.contact else None
    if not address:
        log.info("partner %s has no e-mail address; notice not sent", partner.code)
        return
    try:
        mail.send_message(
            contact_id=partner.contact_id,
            address=address,
            subject=subject,
            html=str(Markup("<p>{}</p>").format(text)),
            text=text,
            purpose="one_to_one",
            track=False,
        )
    except ServiceError as exc:
        log.warning("notice to partner %s not sent: %s", partner.code, exc.message)


def lead(referral) -> None:
    """Tell the partner about a new referral, when it asked to be told."""
    partner = referral.partner
    if not partner.notify_on_lead:
        return
    _send(
        partner,
        _("New referral for %(code)s", code=partner.code),
        _(
            "A new contact was referred to us through your partner code "
            "%(code)s. Thank you.",
            code=partner.code,
        ),
    )


def sale(commission) -> None:
    """Tell the partner about a commission earned, when it asked to be told."""
    partner = commission.partner
    if not partner.notify_on_sale:
        return
    _send(
        partner,
        _("New sale for %(code)s", code=partner.code),
        _(
            "A sale credited to your partner code %(code)s earned you a "
            "commission of %(amount)s.",
            code=partner.code,
            amount=format_money(commission.amount, commission.currency),
        ),
    )
