"""The two rows of tabs on the contact record, as the Infusionsoft record has them.

Each domain registers how its tab renders; a tab with no renderer shows a
plain "not available yet" state. Custom tabs defined by administrators are
added after "Person notes", one per tab, each with its own label.
"""

from collections.abc import Callable
from dataclasses import dataclass

from flask_babel import lazy_gettext as _l


@dataclass(frozen=True)
class Tab:
    key: str
    label: str
    row: str  # "top" or "bottom"


TOP_ROW = (
    Tab("general", _l("General"), "top"),
    Tab("address", _l("Address"), "top"),
    Tab("additional", _l("Additional info"), "top"),
    Tab("notes", _l("Person notes"), "top"),
    # custom tabs are inserted here
    Tab("tags", _l("Tags"), "top"),
    Tab("links", _l("Linked contacts"), "top"),
    Tab("access", _l("Access privileges"), "top"),
)

BOTTOM_ROW = (
    Tab("tasks", _l("Tasks & history"), "bottom"),
    Tab("activity", _l("Recent & scored activity"), "bottom"),
    Tab("referrals", _l("Referral partners"), "bottom"),
    Tab("sequences", _l("Follow-up sequences"), "bottom"),
    Tab("campaigns", _l("Campaigns"), "bottom"),
    Tab("opportunities", _l("Opportunities"), "bottom"),
    Tab("orders", _l("Orders"), "bottom"),
    Tab("web", _l("Web behaviour"), "bottom"),
    Tab("files", _l("File box"), "bottom"),
)

# key -> function(contact, tab_key) returning the tab's HTML (Markup)
_renderers: dict[str, Callable] = {}
# functions returning extra Tab objects (custom tabs) to insert in the top row
_dynamic_tabs: list[Callable[[], list[Tab]]] = []


def renderer(key: str):
    """Register the function that renders tab ``key`` (a prefix for dynamic tabs)."""

    def register(fn):
        _renderers[key] = fn
        return fn

    return register


def dynamic_tabs(fn):
    """Register a function that returns extra top-row tabs."""
    _dynamic_tabs.append(fn)
    return fn


def top_row() -> list[Tab]:
    tabs = list(TOP_ROW[:4])
    for provider in _dynamic_tabs:
        tabs.extend(provider())
    tabs.extend(TOP_ROW[4:])
    return tabs


def find_renderer(key: str):
    if key in _renderers:
        return _renderers[key]
    prefix = key.split("-", 1)[0]
    return _renderers.get(prefix + "-") if "-" in key else None
