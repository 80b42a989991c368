"""The one scope predicate: which rows a user may see or change.

Every path that reads or writes records asks this module: admin lists and
counts, single-record loads, exports, lookups, pickers, CLI commands acting
for a user. A model with no registered rule is denied to everyone.
"""

from collections.abc import Callable

from sqlalchemy import false, select, true
from sqlalchemy.sql import ColumnElement

VIEW = "view"
EDIT = "edit"

Rule = Callable[[object, str], ColumnElement[bool]]

_rules: dict[type, Rule] = {}
_permissions: dict[type, Callable[[object, str], bool]] = {}


def rule(*models: type):
    """Register the row rule for one or more models."""

    def register(fn: Rule) -> Rule:
        for model in models:
            _rules[model] = fn
        return fn

    return register


def permission(*models: type):
    """Register the per-model action check (create, edit, delete, export...)."""

    def register(fn):
        for model in models:
            _permissions[model] = fn
        return fn

    return register


def has_rule(model: type) -> bool:
    return model in _rules


def scope(model: type, user, action: str = VIEW) -> ColumnElement[bool]:
    """SQL criterion selecting the rows of ``model`` that ``user`` may act on."""
    if user is None or not getattr(user, "is_authenticated", False):
        return false()
    if not getattr(user, "is_active", False):
        return false()
    fn = _rules.get(model)
    if fn is None:
        return false()
    return fn(user, action)


def allowed(user, model: type, action: str) -> bool:
    """Whether ``user`` may perform ``action`` on ``model`` at all."""
    if user is None or not getattr(user, "is_authenticated", False):
        return False
    if not getattr(user, "is_active", False):
        return False
    fn = _permissions.get(model)
    if fn is None:
        return False
    return fn(user, action)


def visible_ids(model: type, user, action: str = VIEW):
    """A subquery of the ids of ``model`` that the user may act on."""
    return select(model.id).where(scope(model, user, action))


def everyone(user, action):
    return true()


def admins_only(user, action):
    return true() if user.is_admin else false()
