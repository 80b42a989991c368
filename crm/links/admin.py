"""Admin screens for link types, and the record's Linked contacts tab."""

from flask_babel import lazy_gettext as _l
from wtforms.validators import NumberRange

from crm.core.admin import SecuredModelView
from crm.extensions import db
from crm.links import record, services
from crm.links.models import LinkType


class LinkTypeView(SecuredModelView):
    """Link types (Spouse, Parent/Child, Assistant...): administrators only."""

    required_role = "admin"
    column_list = ("name", "max_links", "created_at")
    column_labels = {
        "name": _l("Name"),
        "max_links": _l("Maximum links per contact"),
        "created_at": _l("Created"),
    }
    column_descriptions = {
        "max_links": _l(
            "How many links of this type one contact may have, counting both sides."
        ),
    }
    column_searchable_list = ("name",)
    column_default_sort = "name"
    form_columns = ("name", "max_links")
    form_args = {
        "max_links": {
            "validators": [
                NumberRange(min=1, message=_l("The maximum must be 1 or more."))
            ],
            "default": 1,
        }
    }
    can_view_details = False

    def __init__(self):
        super().__init__(
            LinkType,
            name=_l("Link types"),
            endpoint="link_type",
            category=_l("Settings"),
        )

    def on_model_change(self, form, model, is_created):
        with db.session.no_autoflush:
            services.check_type(model)


def views():
    yield LinkTypeView()
    yield record.ContactLinkView()
