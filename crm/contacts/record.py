"""The contact record page: header, tag summary and the two rows of tabs."""

from flask import abort, request
from flask_login import current_user

from crm.contacts import services, tabs


def render_record(view):
    """Render one tab of the record of the contact named by ``?id=``."""
    contact = services.get_visible(request.args.get("id"), current_user)
    if contact is None:
        abort(404)

    top, bottom = tabs.top_row(), list(tabs.BOTTOM_ROW)
    keys = {t.key for t in top} | {t.key for t in bottom}
    active = request.args.get("tab", "general")
    if active not in keys:
        active = "general"

    render = tabs.find_renderer(active)
    content = render(contact, active) if render else None
    return view.render(
        "contacts/record.html",
        contact=contact,
        top_tabs=top,
        bottom_tabs=bottom,
        active=active,
        content=content,
        tag_links=contact.tag_links,
    )
