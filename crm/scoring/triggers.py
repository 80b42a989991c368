"""What a score rule can react to: a registry later issues extend.

A trigger names the activity event kind it listens for, whether a rule may
(or must) narrow it to one target such as a tag, and whether a rule scores
once per target (opening the same e-mail twice scores once) or every time.
Page visits and purchases register their triggers the same way.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from flask_babel import lazy_gettext as _l
from sqlalchemy import select

from crm.extensions import db


@dataclass(frozen=True)
class Trigger:
    key: str
    label: object  # a lazy translatable string
    event_kind: str  # the crm.activity kind that fires it
    #: functions() -> [(target, label)] a rule may narrow the trigger to
    targets: Callable[[], list[tuple[str, str]]] | None = field(default=None)
    target_required: bool = False
    once_per_target: bool = False
    #: function(rule target, event target) -> bool; equality when None
    matches: Callable[[str, str | None], bool] | None = field(default=None)

    def accepts(self, rule_target: str | None, event_target: str | None) -> bool:
        """Whether a rule narrowed to ``rule_target`` applies to the event."""
        if not rule_target:
            return True
        if self.matches is not None:
            return self.matches(rule_target, event_target)
        return rule_target == event_target


_triggers: dict[str, Trigger] = {}


def register(trigger: Trigger) -> Trigger:
    """Declare a trigger once; registering the same key twice is a mistake."""
    if trigger.key in _triggers:
        raise ValueError(f"score trigger {trigger.key!r} is registered twice")
    _triggers[trigger.key] = trigger
    return trigger


def get(key: str | None) -> Trigger | None:
    return _triggers.get(key or "")


def all_triggers() -> list[Trigger]:
    return list(_triggers.values())


def for_kinds(kind_keys) -> list[Trigger]:
    """The triggers that listen for any of these event kinds."""
    wanted = set(kind_keys)
    return [t for t in _triggers.values() if t.event_kind in wanted]


def tag_targets() -> list[tuple[str, str]]:
    """Every tag as a rule target ("tag:<id>"), by name."""
    from crm.tags.models import Tag

    rows = db.session.execute(select(Tag.id, Tag.name).order_by(Tag.name))
    return [(f"tag:{tag_id}", name) for tag_id, name in rows]


def form_targets() -> list[tuple[str, str]]:
    """Every web form as a rule target ("form:<id>"), by name."""
    from crm.webforms.models import WebForm

    rows = db.session.execute(select(WebForm.id, WebForm.name).order_by(WebForm.name))
    return [(f"form:{form_id}", name) for form_id, name in rows]


register(
    Trigger(
        "tag_applied",
        _l("Tag applied"),
        "tag_applied",
        targets=tag_targets,
        target_required=True,
    )
)
register(
    Trigger(
        "tag_removed",
        _l("Tag removed"),
        "tag_removed",
        targets=tag_targets,
        target_required=True,
    )
)
register(
    Trigger("form_submitted", _l("Web form submitted"), "form_submitted", form_targets)
)
register(Trigger("order_created", _l("Order placed"), "order_created"))
register(
    Trigger(
        "email_clicked",
        _l("E-mail link clicked"),
        "email_clicked",
        once_per_target=True,
    )
)
register(
    Trigger("email_opened", _l("E-mail opened"), "email_opened", once_per_target=True)
)
register(
    Trigger(
        "email_unsubscribed",
        _l("Unsubscribed"),
        "email_unsubscribed",
        once_per_target=True,
    )
)


def page_targets() -> list[tuple[str, str]]:
    """URL prefixes of the tracked sites' pages."""
    from crm.tracking.services import page_targets as targets

    return targets()


def url_prefix(rule_target: str, event_target: str | None) -> bool:
    return bool(event_target) and event_target.startswith(rule_target)


register(
    Trigger(
        "page_visited",
        _l("Web page visited"),
        "web_visit",
        targets=page_targets,
        matches=url_prefix,
    )
)
