"""The Opportunities tab of the contact record: active and closed, with history."""

from flask import render_template, url_for
from flask_login import current_user
from markupsafe import Markup

from crm.access import policy
from crm.contacts import services as contacts
from crm.contacts import tabs
from crm.opportunities import services
from crm.opportunities.models import Opportunity


@tabs.renderer("opportunities")
def render_opportunities_tab(contact, tab_key):
    """The contact's visible opportunities, each with its stage moves."""
    active, closed = services.of_contact(contact, current_user)
    may_add = (
        policy.allowed(current_user, Opportunity, "create")
        and contacts.get_visible(contact.id, current_user, policy.EDIT) is not None
    )
    editable = services.editable_ids([o.id for o in active + closed], current_user)
    back = url_for("contact.details_view", id=contact.id, tab="opportunities")
    return Markup(
        render_template(
            "opportunities/tab.html",
            contact=contact,
            active=active,
            closed=closed,
            editable=editable,
            add_url=(
                url_for("opportunity.create_view", contact_id=contact.id, url=back)
                if may_add
                else None
            ),
            back=back,
            values=services.display_values,
            stages=services.stages(),
            done=services.done_item_ids,
            days_in_stage=services.days_in_stage,
        )
    )
