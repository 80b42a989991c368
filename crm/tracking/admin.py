"""Administrators register the sites that carry the tracking code."""

from flask import url_for
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import TextAreaField

from crm.core.admin import SecuredModelView
from crm.tracking import record, services  # noqa: F401  (record: the tab)
from crm.tracking.models import TrackedSite


def snippet(site) -> str:
    """The lines a site puts on its pages: the script and the no-script pixel."""
    script = url_for("tracking.script", site_key=site.site_key, _external=True)
    pixel = url_for("tracking.pixel", site_key=site.site_key, _external=True)
    return (
        f'<script src="{script}" async></script>\n'
        f'<noscript><img src="{pixel}" alt="" width="1" height="1"></noscript>'
    )


def _snippet_cell(view, context, model, name):
    if not model.site_key:
        return ""
    return Markup('<pre class="mb-0"><code>{}</code></pre>').format(snippet(model))


def _origins_cell(view, context, model, name):
    return Markup("<br>").join(model.origin_list)


class TrackedSiteView(SecuredModelView):
    """Sites with their allowed origins and the code to place on their pages."""

    required_role = "admin"
    column_list = ("name", "origins", "site_key", "created_at")
    column_details_list = ("name", "origins", "site_key", "snippet", "created_at")
    column_labels = {
        "name": _l("Name"),
        "origins": _l("Allowed origins"),
        "site_key": _l("Site key"),
        "snippet": _l("Tracking code"),
        "created_at": _l("Created"),
    }
    column_descriptions = {
        "origins": _l(
            "One per line, as scheme://host[:port], e.g. https://www.example.com. "
            "Only pages on these origins are recorded."
        ),
        "snippet": _l(
            "Place these lines on every page of the site. While a visitor has "
            "not consented, set window.crmConsent = false before them (or add "
            'data-consent="false" to the script tag): nothing is recorded then, '
            "nor for browsers that send Do-Not-Track."
        ),
    }
    column_formatters = {"origins": _origins_cell, "snippet": _snippet_cell}
    column_formatters_detail = column_formatters
    column_searchable_list = ("name",)
    column_default_sort = "name"
    form_columns = ("name", "origins")
    form_overrides = {"origins": TextAreaField}

    def __init__(self):
        super().__init__(
            TrackedSite,
            name=_l("Tracked sites"),
            endpoint="tracked_site",
            category=_l("Settings"),
        )

    def on_model_change(self, form, model, is_created):
        services.clean_site(model)


def views():
    yield TrackedSiteView()
