"""Why email-validator refused an address, in the reader's language.

The library explains a refusal with an English sentence and no code. Each
sentence it can give is a msgid below, written exactly as the library writes
it, so an English reader reads the library's own words. A sentence is known
by matching it against these msgids, whose placeholders stand for the parts
the library fills in: the characters it names (``chars``), a detail from the
IDNA codec (``detail``), how far over a limit the address is (``excess``,
translated with its plural) or a reason of its own (``reason``). Each
placeholder matches only what the library puts there, so a reason followed by
more text (a stored import problem) is not taken for a longer reason. A
sentence that matches none, from a newer release say, is shown as the library
wrote it.
"""

import re

from flask_babel import gettext, ngettext


def N_(msgid: str) -> str:
    """Mark a msgid for extraction; it is translated where it is shown."""
    return msgid


REASONS = (
    N_("An email address must have an @-sign."),
    N_(
        'The email address has the "full-width" at-sign (@) character instead '
        "of a regular at-sign."
    ),
    N_(
        'The email address has the "small commercial at" character instead of '
        "a regular at-sign."
    ),
    N_("There must be something before the @-sign."),
    N_("There must be something after the @-sign."),
    N_("Extra character(s) found after close quote: %(chars)s"),
    N_("The display name contains invalid characters when not quoted: %(chars)s."),
    N_(
        "An open angle bracket at the start of the email address has to be "
        "followed by a close angle bracket at the end."
    ),
    N_("There can't be anything after the email address."),
    N_(
        "A display name and angle brackets around the email address are not "
        "permitted here."
    ),
    N_("Quoting the part before the @-sign is not allowed here."),
    N_("The email address is not valid ASCII."),
    N_("After Unicode normalization: %(reason)s"),
    # Before the @-sign.
    N_("The email address contains invalid characters before the @-sign: %(chars)s."),
    N_("The email address contains invalid characters before the @-sign."),
    N_(
        "The email address contains invalid characters in quotes before the "
        "@-sign: %(chars)s."
    ),
    N_("Internationalized characters before the @-sign are not supported: %(chars)s."),
    N_("Internationalized characters before the @-sign are not supported."),
    N_("The email address contains unsafe characters: %(chars)s."),
    N_("The email address contains an invalid character."),
    N_("An email address cannot start with a period."),
    N_("An email address cannot have a period immediately before the @-sign."),
    N_("An email address cannot have two periods in a row."),
    # After the @-sign.
    N_("An email address cannot have a period immediately after the @-sign."),
    N_("An email address cannot have a hyphen immediately after the @-sign."),
    N_("An email address cannot end with a period."),
    N_("An email address cannot end with a hyphen."),
    N_("An email address cannot have a period and a hyphen next to each other."),
    N_(
        "An email address cannot have two letters followed by two dashes "
        "immediately after the @-sign or after a period, except Punycode."
    ),
    N_("The part after the @-sign contains invalid characters: %(chars)s."),
    N_("The part after the @-sign contains invalid characters (%(detail)s)."),
    N_(
        "The part after the @-sign contains invalid characters after Unicode "
        "normalization: %(chars)s."
    ),
    N_("The part after the @-sign is invalid (%(detail)s)."),
    N_("The part after the @-sign is not valid IDNA (%(detail)s)."),
    N_(
        "The part after the @-sign became invalid after normalizing to "
        "international characters (%(detail)s)."
    ),
    N_(
        "The email address contains invalid characters after the @-sign after "
        "IDNA encoding."
    ),
    N_("The part after the @-sign is not valid. It should have a period."),
    N_(
        "The part after the @-sign is not valid. It is not within a valid "
        "top-level domain."
    ),
    N_(
        "The part after the @-sign is a special-use or reserved name that "
        "cannot be used with email."
    ),
    N_("A bracketed IP address after the @-sign is not allowed here."),
    N_(
        "The address in brackets after the @-sign is not valid: It is not an "
        "IPv4 address (%(detail)s) or is missing an address literal tag."
    ),
    N_(
        "The IPv6 address in brackets after the @-sign is not valid (It has a "
        "zone index)."
    ),
    N_("The IPv6 address in brackets after the @-sign is not valid (%(detail)s)."),
    N_(
        "The part after the @-sign in brackets is not an IPv4 address and has "
        "no address literal tag."
    ),
    N_("The part after the @-sign contains invalid characters in brackets: %(chars)s."),
    N_(
        "The part after the @-sign contains an invalid address literal tag in brackets."
    ),
    # Lengths.
    N_("The email address is too long %(excess)s."),
    N_("The email address is too long before the @-sign %(excess)s."),
    N_("The email address is too long after the @-sign %(excess)s."),
    N_("The email address is too long after normalization %(excess)s."),
    N_(
        "The email address is too long when the part after the @-sign is "
        "converted to IDNA ASCII %(excess)s."
    ),
    N_(
        "After the @-sign, periods cannot be separated by so many characters "
        "%(excess)s."
    ),
)

_PLACEHOLDER = re.compile(r"%\((\w+)\)s")
# A character as the library names it: quoted, by its Unicode name or U+ code.
_CHAR = r"""(?:'[^']'|"[^"]"|[A-Z0-9][A-Z0-9 +-]*)"""
# What each placeholder stands for; an excess is always one parenthesis.
_VALUE_PATTERNS = {
    "chars": rf"{_CHAR}(?:, {_CHAR})*",
    "detail": ".+",
    "excess": r"\([^()]*\)",
    "reason": ".+",
}
_EXCESS = re.compile(
    r"\((?:(?P<low>\d+)-)?(?P<num>\d+) (?P<unit>character|byte)s? too many"
    r"(?P<idna> after IDNA encoding)?\)"
)


def _pattern(msgid: str) -> re.Pattern:
    parts = _PLACEHOLDER.split(msgid)
    return re.compile(
        "".join(
            re.escape(part) if i % 2 == 0 else f"(?P<{part}>{_VALUE_PATTERNS[part]})"
            for i, part in enumerate(parts)
        ),
        re.DOTALL,
    )


_EXACT = frozenset(msgid for msgid in REASONS if "%(" not in msgid)
_PATTERNS = tuple((msgid, _pattern(msgid)) for msgid in REASONS if "%(" in msgid)
_RANGE = N_("(%(low)s-%(high)s characters too many)")
#: Every msgid of this module (stored_message leaves these to it).
MSGIDS = frozenset(REASONS) | {_RANGE}


def email_reason(text: str) -> str:
    """email-validator's reason in the reader's language (as written when unknown)."""
    return known_email_reason(text) or text


def known_email_reason(text: str) -> str | None:
    """The reader's wording of one of email-validator's reasons, None for other text.

    A reason that contains another reason is known only when that one is too.
    """
    if text in _EXACT:
        return gettext(text)
    for msgid, pattern in _PATTERNS:
        found = pattern.fullmatch(text)
        if found is None:
            continue
        values = found.groupdict()
        if "excess" in values:
            values["excess"] = _excess(values["excess"])
            if values["excess"] is None:
                continue
        if "reason" in values:
            values["reason"] = known_email_reason(values["reason"])
            if values["reason"] is None:
                continue
        return gettext(msgid, **values)
    return None


def _excess(text: str) -> str | None:
    """How far over a limit, as in "(3 characters too many)", or None."""
    found = _EXCESS.fullmatch(text)
    if found is None:
        return None
    num = int(found["num"])
    if found["low"]:
        return gettext(_RANGE, low=found["low"], high=num)
    if found["unit"] == "character":
        return ngettext(
            "(%(num)s character too many)", "(%(num)s characters too many)", num
        )
    if found["idna"]:
        return ngettext(
            "(%(num)s byte too many after IDNA encoding)",
            "(%(num)s bytes too many after IDNA encoding)",
            num,
        )
    return ngettext("(%(num)s byte too many)", "(%(num)s bytes too many)", num)
