"""Merge fields in subjects and bodies, rendered in a sandbox.

Two spellings are accepted: Keap's ``~Contact.FirstName~`` and
``{{ contact.given_name }}``. The values are plain strings in dictionaries
(never ORM objects), the environment is sandboxed and autoescapes, and an
unknown field is an error, both when a template is saved and when it is sent.
"""

import functools
import re

import nh3
from flask_babel import gettext as _
from jinja2 import StrictUndefined, TemplateError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select

from crm.core.errors import ServiceError
from crm.extensions import db

CONTACT_FIELDS = {
    "given_name": "FirstName",
    "family_name": "LastName",
    "middle_name": "MiddleName",
    "prefix": "Title",
    "suffix": "Suffix",
    "display_name": "Name",
    "email": "Email",
    "phone": "Phone1",
    "company": "Company",
    "job_title": "JobTitle",
    "website": "Website",
}
OWNER_FIELDS = {"name": "Name", "email": "Email"}
KEAP_CONTACT = {v: k for k, v in CONTACT_FIELDS.items()}
KEAP_OWNER = {v: k for k, v in OWNER_FIELDS.items()}

_TILDE = re.compile(r"~(Contact|Owner)\.(_?)([A-Za-z0-9_]+)~")

_html_env = SandboxedEnvironment(autoescape=True, undefined=StrictUndefined)
_text_env = SandboxedEnvironment(autoescape=False, undefined=StrictUndefined)


class MergeError(ServiceError):
    """A merge field is unknown or the template does not parse."""


def sanitise(html: str) -> str:
    """Clean user-written HTML: no script, no handler, only http(s)/mailto links."""
    return nh3.clean(
        html or "",
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer",
    )


def _from_tilde(source: str) -> str:
    def replace(match):
        entity, custom, name = match.groups()
        if entity == "Contact" and custom:
            return "{{ contact.custom." + name + " }}"
        table = KEAP_CONTACT if entity == "Contact" else KEAP_OWNER
        field = table.get(name, name)
        return "{{ " + entity.lower() + "." + field + " }}"

    return _TILDE.sub(replace, source or "")


def contact_values(contact) -> dict:
    """The merge values of one contact, custom fields under ``custom``."""
    from crm.customfields.models import CustomField, CustomValue

    values = {
        "given_name": contact.given_name or "",
        "family_name": contact.family_name or "",
        "middle_name": contact.middle_name or "",
        "prefix": contact.prefix or "",
        "suffix": contact.suffix or "",
        "display_name": contact.display_name,
        "email": contact.primary_email or "",
        "phone": contact.primary_phone or "",
        "company": contact.company.name if contact.company else "",
        "job_title": contact.job_title or "",
        "website": contact.website or "",
    }
    rows = db.session.execute(
        select(CustomField.field_name, CustomValue.value)
        .join(CustomValue, CustomValue.field_id == CustomField.id)
        .where(CustomValue.contact_id == contact.id)
    )
    custom = {name: "" for name in _custom_field_names()}
    custom.update({name: value or "" for name, value in rows})
    values["custom"] = custom
    return values


def _custom_field_names() -> list[str]:
    from crm.customfields.models import CustomField

    return list(db.session.scalars(select(CustomField.field_name)))


def _link_type_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def context_for(contact, linked=None) -> dict:
    """Everything a template may use for ``contact`` (and one linked contact)."""
    owner = contact.owner
    context = {
        "contact": contact_values(contact),
        "owner": {
            "name": (owner.name or owner.email) if owner else "",
            "email": owner.email if owner else "",
        },
        "linked": contact_values(linked) if linked is not None else _blank_contact(),
    }
    return context


def _blank_contact() -> dict:
    values = {key: "" for key in CONTACT_FIELDS}
    values["custom"] = {name: "" for name in _custom_field_names()}
    return values


def sample_context() -> dict:
    """A context with every known field, used to check a template at save time."""
    blank = _blank_contact()
    return {"contact": blank, "owner": dict.fromkeys(OWNER_FIELDS, ""), "linked": blank}


def has_fields(source: str) -> bool:
    """Whether ``source`` may hold a merge field or template syntax at all."""
    return "{" in (source or "") or "~" in (source or "")


@functools.lru_cache(maxsize=512)
def _compiled(source: str, html: bool):
    """The compiled template of ``source``: a batch renders the same one often."""
    env = _html_env if html else _text_env
    return env.from_string(_from_tilde(source))


def render(source: str, context: dict, *, html: bool) -> str:
    """Render ``source`` with ``context``; unknown fields raise MergeError."""
    try:
        return _compiled(source, html).render(**context)
    except UndefinedError as exc:
        raise MergeError(
            _("Unknown merge field: %(field)s", field=_undefined_name(exc))
        ) from exc
    except (TemplateError, ArithmeticError, LookupError, TypeError, ValueError) as exc:
        # A user's template may divide by zero or ask the sandbox for too much.
        raise MergeError(
            _("The merge fields could not be read: %(problem)s", problem=str(exc))
        ) from exc


def _undefined_name(exc) -> str:
    match = re.search(r"has no attribute '([^']+)'|'([^']+)' is undefined", str(exc))
    if not match:
        return str(exc)
    return match.group(1) or match.group(2)


def check(subject: str, html: str) -> None:
    """Refuse a subject or body whose merge fields are unknown or malformed."""
    context = sample_context()
    render(subject, context, html=False)
    render(html, context, html=True)
