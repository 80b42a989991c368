"""The kinds of activity event each domain records, and how each one reads.

A domain registers its kinds once at import; the feed shows the label and,
when the domain gave one, the HTML its ``describe`` function returns for an
event (for example an e-mail's opens and clicks). A kind whose subject is
the system's own wording (not a user's text) gives a ``title`` function that
words it from the event's data in the reader's language; the stored subject
stays as written, for search and for kinds without one.
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    key: str
    label: object  # a lazy translatable string
    group: str  # the feed filter it falls under: "note", "email", "task", ...
    describe: Callable | None = None  # function(event) -> Markup
    title: Callable | None = None  # function(event) -> str, the subject as read


_kinds: dict[str, Kind] = {}


def register(
    key: str,
    label,
    group: str,
    describe: Callable | None = None,
    *,
    title: Callable | None = None,
) -> Kind:
    """Declare an event kind; registering the same key twice is a mistake."""
    if key in _kinds:
        raise ValueError(f"activity kind {key!r} is registered twice")
    kind = Kind(key, label, group, describe, title)
    _kinds[key] = kind
    return kind


def get(key: str) -> Kind | None:
    return _kinds.get(key)


def subject_of(event) -> str:
    """The event's subject in the reader's language where its kind words it."""
    kind = _kinds.get(event.kind)
    if kind is not None and kind.title is not None:
        return kind.title(event) or event.subject
    return event.subject


def all_kinds() -> list[Kind]:
    return list(_kinds.values())


def groups() -> list[str]:
    return sorted({k.group for k in _kinds.values()})
