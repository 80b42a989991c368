"""fold: the comparison form of text (NFC, casefolded, single spaces)."""

import re
import unicodedata

import pytest

from crm.core.text import fold, normalize_email


@pytest.mark.parametrize(
    "value, folded",
    [
        (None, ""),
        ("", ""),
        ("   ", ""),
        ("  Jane\t\n DOE  ", "jane doe"),
        ("Straße", "strasse"),
        ("STRASSE", "strasse"),
        ("A\u030angstr\u00f6m", "\u00e5ngstr\u00f6m"),
        ("\u00a0Jos\u00e9\u2028  P\u00c9REZ\u3000", "jos\u00e9 p\u00e9rez"),
        ("x\x1fy\x0bz", "x y z"),
        ("\u0130stanbul", "i\u0307stanbul"),
        ("\ufb01le", "file"),
    ],
)
def test_fold(value, folded):
    assert fold(value) == folded


def test_normalize_email_drops_every_space():
    assert normalize_email(" Ann .Lee@Example.COM\t") == "ann.lee@example.com"


def _reference_fold(value):
    # The definition the ASCII fast path must keep: NFC, casefold, single spaces.
    text = unicodedata.normalize("NFC", value).casefold()
    return re.sub(r"\s+", " ", text).strip(" ")


@pytest.mark.parametrize(
    "value",
    ["\u0131I", "I\u0307", "\U0001f600 \U0001f44d\U0001f3fd", "a\u200bb", "\ufeffX",
     "a\x85b", "A\x1cB", "\t\r\n", "e\u0301\u0301", "\u1e9e", "\u01c5"],
)  # fmt: skip
def test_fold_matches_its_definition(value):
    assert fold(value) == _reference_fold(value)


def test_fold_matches_its_definition_for_every_character_of_the_bmp():
    differ = [
        hex(code)
        for code in range(0x10000)
        for value in (chr(code), f" A{chr(code)}b\u00a0{chr(code)} ")
        if fold(value) != _reference_fold(value)
    ]
    assert differ == []
