"""Flames as HTML: 0-5 flame icons with the score in the title."""

from flask import g, has_request_context
from flask_babel import gettext as _
from markupsafe import Markup

from crm.scoring.services import MAX_FLAMES

_ON = Markup('<span class="crm-flame" aria-hidden="true">&#x1F525;</span>')
_OFF = Markup(
    '<span class="crm-flame crm-flame-off" aria-hidden="true">&#x1F525;</span>'
)


def flames_html(lead, element_id: str | None = None) -> Markup:
    """The flames of a Lead (None reads as a score of 0), for a template.

    The list calls this once a row; the same score renders the same HTML,
    so each distinct one is built once per request.
    """
    score, n = (lead.score, lead.flames) if lead else (0, 0)
    key = (score, n, element_id)
    cache = g.setdefault("crm_flames_html", {}) if has_request_context() else {}
    if key not in cache:
        cache[key] = _build(score, n, element_id)
    return cache[key]


def _build(score: int, n: int, element_id: str | None) -> Markup:
    id_attr = Markup(' id="{}"').format(element_id) if element_id else Markup("")
    icons = Markup("").join([_ON] * n + [_OFF] * (MAX_FLAMES - n))
    return Markup(
        '<span class="crm-flames"{} data-flames="{}" title="{}">{}'
        '<span class="sr-only">{}</span></span>'
    ).format(
        id_attr,
        n,
        _("Lead score %(score)s: %(n)s of 5 flames", score=score, n=n),
        icons,
        _("%(n)s of 5 flames", n=n),
    )
