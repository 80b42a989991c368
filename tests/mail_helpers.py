"""Shared pieces of the mail tests: a compose helper and token extraction."""

import re
from urllib.parse import urlsplit

COMPOSE = "/admin/mail/compose/"


def compose(web, contact, **fields):
    """Post the compose form for ``contact``; fields override the defaults."""
    data = {
        "to": str(contact.emails[0].id),
        "cc": "",
        "purpose": "one_to_one",
        "subject": "Hello",
        "body": "<p>Hi there</p>",
    }
    data.update(fields)
    return web.post(
        COMPOSE,
        data=data,
        query_string={"contact_id": contact.id},
        content_type="multipart/form-data",
    )


def html_of(message) -> str:
    part = message.get_body(preferencelist=("html",))
    return part.get_content() if part is not None else ""


def text_of(message) -> str:
    return message.get_body(preferencelist=("plain",)).get_content()


def paths(html: str, prefix: str) -> list[str]:
    """The paths of every URL in ``html`` that starts with ``/m/<prefix>``."""
    urls = re.findall(r'(?:href|src)="([^"]+)"', html)
    found = []
    for url in urls:
        path = urlsplit(url.replace("&amp;", "&")).path
        if path.startswith(f"/m/{prefix}"):
            found.append(path)
    return found
