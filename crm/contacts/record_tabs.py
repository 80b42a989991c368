"""Read-only displays of the top-row tabs General, Address, Additional info and
Person notes, each with an Edit button leading to its editor (tab_views.py)."""

from urllib.parse import urlsplit

from flask import render_template, url_for
from flask_login import current_user
from markupsafe import Markup

from crm.access import policy
from crm.contacts import forms, services, tabs

EDITORS = {
    "general": "contact_general",
    "address": "contact_address",
    "additional": "contact_additional",
    "notes": "contact_notes",
}


def website_href(value: str | None) -> str | None:
    """A link target for a stored website: http(s) only, so no script URL runs."""
    if not value:
        return None
    text = value.strip()
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return text
    if not scheme and " " not in text and "." in text:
        return "https://" + text
    return None


def edit_url(contact, tab_key: str) -> str | None:
    """The tab's editor, when the user may edit this contact."""
    if services.get_visible(contact.id, current_user, policy.EDIT) is None:
        return None
    return url_for(f"{EDITORS[tab_key]}.edit_view", id=contact.id)


def _render(template: str, contact, tab_key: str, **context) -> Markup:
    html = render_template(
        template,
        contact=contact,
        edit_url=edit_url(contact, tab_key),
        country_name=forms.country_name,
        **context,
    )
    return Markup(html)


@tabs.renderer("general")
def general_tab(contact, tab_key):
    """Names, company, e-mails, phones, billing address; the weather loads later."""
    return _render(
        "contacts/tab_general.html",
        contact,
        tab_key,
        website=website_href(contact.website),
        weather_url=url_for("contact.weather", id=contact.id),
    )


@tabs.renderer("address")
def address_tab(contact, tab_key):
    """The billing, shipping and other addresses."""
    by_kind = {address.kind: address for address in contact.addresses}
    return _render("contacts/tab_address.html", contact, tab_key, by_kind=by_kind)


@tabs.renderer("additional")
def additional_tab(contact, tab_key):
    """The other phones and faxes, dates, people, social accounts."""
    return _render(
        "contacts/tab_additional.html",
        contact,
        tab_key,
        general_edit_url=edit_url(contact, "general"),
    )


@tabs.renderer("notes")
def notes_tab(contact, tab_key):
    """The person notes: one undated text."""
    return _render("contacts/tab_notes.html", contact, tab_key)
