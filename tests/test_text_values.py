"""Phone extensions and web addresses as crm.core.text reads them."""

import pytest

from crm.core.text import (
    has_digits,
    is_extension_only,
    phone_to_e164,
    split_extension,
    unix_lines,
    web_address,
)


@pytest.mark.parametrize(
    ("typed", "number", "extension"),
    [
        ("+1 212 555 0100 x12", "+1 212 555 0100", "12"),
        ("+1 212 555 0100 ext. 12", "+1 212 555 0100", "12"),
        ("(212) 555-0100 ext 12", "(212) 555-0100", "12"),
        ("+1 212 555 0100 #12", "+1 212 555 0100", "12"),
        ("+1 212 555 0100;ext=12", "+1 212 555 0100", "12"),
        ("212-555-0100 extension 12", "212-555-0100", "12"),
        ("1-800-FLOWERS x12", "1-800-FLOWERS", "12"),
        ("+44 20 7946 0000 x7", "+44 20 7946 0000", "7"),
        ("+1 212 555 0100", "+1 212 555 0100", None),
        ("+49 30 1234567-12", "+49 30 1234567-12", None),
        ("12", "12", None),
        ("call me maybe", "call me maybe", None),
    ],
)
def test_split_extension_uses_the_extension_phonenumbers_reads(
    typed, number, extension
):
    assert split_extension(typed, "US") == (number, extension)


def test_the_e164_form_leaves_the_extension_out():
    assert phone_to_e164("+1 212 555 0100 x12", "US") == "+12125550100"


@pytest.mark.parametrize(
    ("typed", "region", "e164"),
    [
        # Dialable only inside their area: no area code, so no E.164 form.
        ("555-0100", "US", None),
        ("0261 8500000", "DE", "+492618500000"),
        ("(212) 555-0100", "US", "+12125550100"),
        ("+44 20 7946 0000", "US", "+442079460000"),
    ],
)
def test_only_a_whole_number_gets_an_e164_form(typed, region, e164):
    assert phone_to_e164(typed, region) == e164


@pytest.mark.parametrize(
    ("text", "expected"), [("call me", False), ("", False), (None, False), ("x1", True)]
)
def test_has_digits(text, expected):
    assert has_digits(text) is expected


@pytest.mark.parametrize(
    ("typed", "address"),
    [
        ("example.com", "https://example.com"),
        ("https://example.com/a?b=1", "https://example.com/a?b=1"),
        ("HTTP://Example.org", "HTTP://Example.org"),
        ("example.com:8080/x", "https://example.com:8080/x"),
        ("bücher.de", "https://bücher.de"),
        ("javascript:alert(1)", None),
        ("javascript:alert(document.cookie)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("mailto:jane@example.com", None),
        ("https://user:secret@example.com", None),
        ("ftp://example.com", None),
        ("not a url at all", None),
        ("localhost", None),
        ("http://[shop", None),
        ("a..b", None),
        ("", None),
    ],
)
def test_web_address_accepts_http_addresses_only(typed, address):
    assert web_address(typed) == address


@pytest.mark.parametrize(
    ("typed", "only"),
    [
        ("x12", True),
        ("ext. 12", True),
        ("extension 12", True),
        ("#12", True),
        (";ext=12", True),
        ("  x 12  ", True),
        ("12", False),
        ("12 x12", False),
        ("+1 212 555 0100 x12", False),
        ("1-800-FLOWERS x12", False),
        ("x", False),
        ("", False),
        (None, False),
    ],
)
def test_is_extension_only(typed, only):
    assert is_extension_only(typed) is only


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a\r\nb\r\n", "a\nb\n"), ("a\rb", "a\nb"), ("a\nb", "a\nb"), (None, None)],
)
def test_unix_lines(text, expected):
    assert unix_lines(text) == expected
