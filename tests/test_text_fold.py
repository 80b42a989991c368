"""fold: the comparison form of text (NFC, casefolded, single spaces)."""

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
