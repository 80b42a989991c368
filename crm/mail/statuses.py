"""The e-mail status model: which statuses may receive which mail.

Status belongs to the address. Marketing mail goes only to marketable
addresses; one-to-one mail from the record may still reach an address that
unsubscribed, but never one that hard-bounced, is invalid or locked.
"""

from flask_babel import lazy_gettext as _l

ONE_TO_ONE = "one_to_one"
MARKETING = "marketing"
SYSTEM = "system"
PURPOSES = (ONE_TO_ONE, MARKETING)

SINGLE_OPT_IN = "SINGLE_OPT_IN"
DOUBLE_OPT_IN = "DOUBLE_OPT_IN"
UNENGAGED_MARKETABLE = "UNENGAGED_MARKETABLE"
UNENGAGED_NON_MARKETABLE = "UNENGAGED_NON_MARKETABLE"
NON_MARKETABLE = "NON_MARKETABLE"
MANUAL = "MANUAL"
ADMIN = "ADMIN"
SYSTEM_OPT_OUT = "SYSTEM"
LIST_UNSUBSCRIBE = "LIST_UNSUBSCRIBE"
FEEDBACK = "FEEDBACK"
SPAM = "SPAM"
BOUNCE = "BOUNCE"
HARD_BOUNCE = "HARD_BOUNCE"
LOCKDOWN = "LOCKDOWN"
INVALID = "INVALID"
DEACTIVATED = "DEACTIVATED"

LABELS = {
    SINGLE_OPT_IN: _l("Unconfirmed (single opt-in)"),
    DOUBLE_OPT_IN: _l("Confirmed"),
    UNENGAGED_MARKETABLE: _l("Unengaged marketable"),
    UNENGAGED_NON_MARKETABLE: _l("Unengaged non-marketable"),
    NON_MARKETABLE: _l("Non-marketable"),
    MANUAL: _l("Opt-out: manual"),
    ADMIN: _l("Unsubscribed (admin opt-out)"),
    SYSTEM_OPT_OUT: _l("Opt-out: system"),
    LIST_UNSUBSCRIBE: _l("List unsubscribe"),
    FEEDBACK: _l("Provided feedback"),
    SPAM: _l("Reported spam"),
    BOUNCE: _l("Bounce"),
    HARD_BOUNCE: _l("Hard bounce"),
    LOCKDOWN: _l("Lockdown"),
    INVALID: _l("Invalid e-mail"),
    DEACTIVATED: _l("Deactivated"),
}
ALL = tuple(LABELS)

MARKETABLE = frozenset({SINGLE_OPT_IN, DOUBLE_OPT_IN, UNENGAGED_MARKETABLE})
# Undeliverable or locked: nothing goes there, not even one-to-one mail.
BLOCKED = frozenset({HARD_BOUNCE, INVALID, LOCKDOWN, DEACTIVATED})
# A manual opt-in (with a reason) moves only these to single opt-in.
OPT_IN_FROM = frozenset(
    {UNENGAGED_MARKETABLE, UNENGAGED_NON_MARKETABLE, NON_MARKETABLE, MANUAL}
)
# Statuses a confirmation link may not override.
CONFIRM_REFUSED = BLOCKED | {SPAM, FEEDBACK, ADMIN, LIST_UNSUBSCRIBE, SYSTEM_OPT_OUT}


def may_receive(status: str, purpose: str) -> bool:
    """Whether an address with ``status`` may be sent mail of ``purpose``."""
    if status in BLOCKED:
        return False
    if purpose == MARKETING:
        return status in MARKETABLE
    return True


def label(status: str) -> str:
    return str(LABELS.get(status, status))
