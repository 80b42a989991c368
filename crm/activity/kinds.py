"""The kinds of activity event each domain records, and how each one reads.

A domain registers its kinds once at import; the feed shows the label and,
when the domain gave one, the HTML its ``describe`` function returns for an
event (for example an e-mail's opens and clicks).
"""

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    key: str
    label: object  # a lazy translatable string
    group: str  # the feed filter it falls under: "note", "email", "task", ...
    describe: Callable | None = None  # function(event) -> Markup


_kinds: dict[str, Kind] = {}


def register(key: str, label, group: str, describe: Callable | None = None) -> Kind:
    """Declare an event kind; registering the same key twice is a mistake."""
    if key in _kinds:
        raise ValueError(f"activity kind {key!r} is registered twice")
    kind = Kind(key, label, group, describe)
    _kinds[key] = kind
    return kind


def get(key: str) -> Kind | None:
    return _kinds.get(key)


def all_kinds() -> list[Kind]:
    return list(_kinds.values())


def groups() -> list[str]:
    return sorted({k.group for k in _kinds.values()})
