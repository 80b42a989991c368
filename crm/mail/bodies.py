"""A body typed as plain text, made into the HTML part of an e-mail."""

import re

from linkify_it import LinkifyIt
from markupsafe import Markup, escape

# A body holding one of these tags was written (or filled from a template) as
# HTML; anything else is plain text.
_HTML_TAG = re.compile(
    r"<(?:p|br|div|span|a|b|i|u|strong|em|ul|ol|li|table|tr|td|h[1-6]|img|"
    r"blockquote|pre|hr)\b[^>]*>",
    re.IGNORECASE,
)
_PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
_linkify = LinkifyIt()


def is_html(body: str | None) -> bool:
    """Whether a body was written as HTML rather than plain text."""
    return bool(_HTML_TAG.search(body or ""))


def plain(body: str | None) -> str:
    """The typed text with the browser's line endings made ``\\n``."""
    return (body or "").replace("\r\n", "\n").replace("\r", "\n")


def text_to_html(text: str) -> str:
    """Escaped HTML of plain text: blank lines make paragraphs, single line
    breaks stay line breaks, and web and e-mail addresses become links."""
    paragraphs = _PARAGRAPH_BREAK.split(plain(text).strip())
    html = [
        Markup("<p>{}</p>").format(
            Markup("<br>\n").join(_linked(line) for line in paragraph.split("\n"))
        )
        for paragraph in paragraphs
        if paragraph.strip()
    ]
    return str(Markup("\n").join(html))


def _linked(line: str) -> Markup:
    parts, start = [], 0
    for match in _linkify.match(line) or ():
        parts.append(escape(line[start : match.index]))
        parts.append(Markup('<a href="{}">{}</a>').format(match.url, match.text))
        start = match.last_index
    parts.append(escape(line[start:]))
    return Markup("").join(parts)
