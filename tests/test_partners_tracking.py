"""Tracking links: only allowed destinations, and a signed, HttpOnly, Lax cookie."""

import pytest
from sqlalchemy import select

from crm.partners import services, tracking
from crm.partners.models import PartnerSettings, TrackingDestination

ALLOWED = "https://allowed.example.com"
LANDING = "https://allowed.example.com/welcome"


@pytest.fixture
def allow_list(db):
    db.session.add_all(
        [
            TrackingDestination(prefix=ALLOWED),
            TrackingDestination(prefix="https://shop.example.org/store"),
        ]
    )
    db.session.commit()


@pytest.fixture
def with_landing(db, allow_list):
    settings = db.session.get(PartnerSettings, 1)
    settings.landing_url = LANDING
    db.session.commit()


@pytest.fixture
def partner(db, make_contact):
    partner = services.create_partner(
        make_contact("Paula", "Partner"), "Paula1", status="active", track_days=30
    )
    db.session.commit()
    return partner


@pytest.mark.parametrize(
    ("to", "expected"),
    [
        (ALLOWED, ALLOWED + "/"),
        (ALLOWED + "/", ALLOWED + "/"),
        (ALLOWED + "/pricing?plan=pro#top", ALLOWED + "/pricing?plan=pro#top"),
        ("HTTPS://Allowed.Example.com/a", ALLOWED + "/a"),
        ("https://allowed.example.com:443/a", ALLOWED + "/a"),
        ("https://shop.example.org/store", "https://shop.example.org/store"),
        (
            "https://shop.example.org/store/item/1",
            "https://shop.example.org/store/item/1",
        ),
    ],
)
def test_allowed_destinations_are_followed(client, allow_list, partner, to, expected):
    response = client.get("/r/Paula1", query_string={"to": to})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


TRICKS = [
    "//evil.com",
    "///evil.com",
    "https://allowed.example.com.evil.com",
    "https://allowed.example.com.evil.com/",
    "https://allowed.example.com@evil.com",
    "https://allowed.example.com%40evil.com",
    "https://allowed.example.com%2F@evil.com",
    "https://user:pw@allowed.example.com/",
    "https://evil.com/https://allowed.example.com",
    "https://evil.com#https://allowed.example.com",
    "https://evil.com?https://allowed.example.com",
    "javascript:alert(1)",
    "JaVaScRiPt:alert(document.cookie)",
    "javascript://allowed.example.com/%0aalert(1)",
    "data:text/html,<script>alert(1)</script>",
    "http://allowed.example.com/",  # another scheme than the one allowed
    "https://allowed.example.com:8443/",
    "https://allowed.example.com:443.evil.com/",
    "/\\evil.com",
    "\\\\evil.com",
    "https:\\\\evil.com",
    "https://allowed.example.com\\@evil.com",
    "https:/evil.com",
    "https:evil.com",
    " https://evil.com",
    "https://evil.com\t",
    "https://allowed.example.com\n.evil.com",
    "%2F%2Fevil.com",
    "https%3A%2F%2Fevil.com",
    "https://%65vil.com",
    "https://allowed.example.com%2eevil.com",
    "https://allowed．example.com",  # a full-width dot
    "https://аllowed.example.com",  # a Cyrillic "а"
    "https://shop.example.org/storefront",  # beside the allowed path, not under it
    "https://shop.example.org/store/../admin",
    "https://shop.example.org/store/%2e%2e/admin",
    "https://shop.example.org/",
    "evil.com",
    "",
    "x" * 3000,
]


@pytest.mark.parametrize("to", TRICKS)
def test_tricks_never_leave_the_allow_list(client, with_landing, partner, to):
    response = client.get("/r/Paula1", query_string={"to": to})
    assert response.status_code == 302
    assert response.headers["Location"] == LANDING


@pytest.mark.parametrize("to", ["//evil.com", "javascript:alert(1)", None])
def test_without_a_landing_page_a_refused_link_shows_a_plain_page(
    client, allow_list, partner, to
):
    query = {"to": to} if to is not None else {}
    response = client.get("/r/Paula1", query_string=query)
    assert response.status_code == 404
    assert "Location" not in response.headers
    body = response.get_data(as_text=True)
    assert "This link has no page to open." in body
    assert "evil.com" not in body


def test_a_landing_page_outside_the_allow_list_is_not_used(db, client, partner):
    settings = db.session.get(PartnerSettings, 1)
    settings.landing_url = "https://elsewhere.example.net/"
    db.session.commit()
    response = client.get("/r/Paula1", query_string={"to": "https://evil.com"})
    assert response.status_code == 404


def test_the_landing_page_setting_must_be_an_address(db):
    from crm.core.errors import ServiceError

    settings = services.get_settings()
    settings.landing_url = "javascript:alert(1)"
    with pytest.raises(ServiceError, match="full http or https address"):
        services.check_settings(settings)


@pytest.mark.parametrize(
    "prefix",
    [
        "allowed.example.com",
        "//allowed.example.com",
        "ftp://x.example",
        "https://a.example/?q=1",
    ],
)
def test_a_destination_prefix_must_be_a_full_address(db, prefix):
    from crm.core.errors import ServiceError

    with pytest.raises(ServiceError, match="full http or https address"):
        services.check_destination(TrackingDestination(prefix=prefix))


def test_the_cookie_is_signed_http_only_lax_and_lives_for_the_window(
    app, client, allow_list, partner
):
    response = client.get("/r/Paula1", query_string={"to": ALLOWED})
    header = response.headers["Set-Cookie"]
    assert header.startswith(f"{tracking.COOKIE_NAME}=")
    assert "HttpOnly" in header
    assert "SameSite=Lax" in header
    assert f"Max-Age={30 * 86400}" in header
    assert "Path=/" in header

    value = client.get_cookie(tracking.COOKIE_NAME).value
    partner_id, _clicked = tracking.read_cookie_value(value)
    assert partner_id == partner.id
    # The value is signed with the app's secret, not a bare id.
    assert value != str(partner.id)


def test_an_unlimited_window_gets_a_long_lived_cookie(db, client, allow_list, partner):
    partner.track_days = None
    db.session.commit()
    response = client.get("/r/Paula1", query_string={"to": ALLOWED})
    assert (
        f"Max-Age={tracking.UNLIMITED_COOKIE_DAYS * 86400}"
        in response.headers["Set-Cookie"]
    )


def test_codes_in_links_ignore_case(client, allow_list, partner):
    client.get("/r/PAULA1", query_string={"to": ALLOWED})
    assert client.get_cookie(tracking.COOKIE_NAME) is not None


@pytest.mark.parametrize("code", ["Nobody1", "9001", "Paula1"])
def test_unknown_and_inactive_codes_set_no_cookie_and_answer_alike(
    db, client, allow_list, partner, code
):
    partner.status = "inactive"
    db.session.commit()
    response = client.get(f"/r/{code}", query_string={"to": ALLOWED + "/x"})
    assert response.status_code == 302
    assert response.headers["Location"] == ALLOWED + "/x"
    assert "Set-Cookie" not in response.headers


def test_latest_credit_replaces_the_cookie_on_a_new_click(
    db, client, allow_list, partner, make_contact
):
    other = services.create_partner(
        make_contact("Otto", "Other"), "Otto1", status="active"
    )
    db.session.commit()
    client.get("/r/Paula1", query_string={"to": ALLOWED})
    client.get("/r/Otto1", query_string={"to": ALLOWED})
    value = client.get_cookie(tracking.COOKIE_NAME).value
    assert tracking.read_cookie_value(value)[0] == other.id


def test_first_credit_keeps_the_first_cookie(
    db, client, allow_list, partner, make_contact
):
    services.create_partner(make_contact("Otto", "Other"), "Otto1", status="active")
    db.session.get(PartnerSettings, 1).credit = "first"
    db.session.commit()
    client.get("/r/Paula1", query_string={"to": ALLOWED})
    response = client.get("/r/Otto1", query_string={"to": ALLOWED})
    assert "Set-Cookie" not in response.headers
    value = client.get_cookie(tracking.COOKIE_NAME).value
    assert tracking.read_cookie_value(value)[0] == partner.id


def test_first_credit_replaces_a_tampered_cookie(
    db, client, allow_list, partner, make_contact
):
    other = services.create_partner(
        make_contact("Otto", "Other"), "Otto1", status="active"
    )
    db.session.get(PartnerSettings, 1).credit = "first"
    db.session.commit()
    client.set_cookie(tracking.COOKIE_NAME, "forged.value.here")
    client.get("/r/Otto1", query_string={"to": ALLOWED})
    value = client.get_cookie(tracking.COOKIE_NAME).value
    assert tracking.read_cookie_value(value)[0] == other.id


# The administrator's screens.
def test_an_administrator_allows_a_destination_and_sets_the_credit(
    db, web, login_as, client, partner
):
    login_as("admin")
    web.post(
        "/admin/link-destinations/new/", {"prefix": " https://www.example.com/shop "}
    )
    refused = web.post(
        "/admin/link-destinations/new/",
        {"prefix": "javascript:alert(1)"},
        follow_redirects=True,
    ).get_data(as_text=True)
    assert "full http or https address" in refused
    assert [d.prefix for d in db.session.scalars(select(TrackingDestination))] == [
        "https://www.example.com/shop"
    ]

    web.post(
        "/admin/partner-settings/edit/?id=1",
        {"credit": "first", "landing_url": "https://www.example.com/shop/welcome"},
    )
    db.session.expire_all()
    stored = db.session.get(PartnerSettings, 1)
    assert (stored.credit, stored.use_history, stored.landing_url) == (
        "first",
        False,
        "https://www.example.com/shop/welcome",
    )
    response = client.get("/r/Paula1", query_string={"to": "//evil.com"})
    assert response.headers["Location"] == "https://www.example.com/shop/welcome"


def test_only_administrators_reach_the_settings_screens(db, web, login_as):
    login_as("user")
    for url in ("/admin/partner-settings/", "/admin/link-destinations/"):
        assert web.get(url).status_code == 403
    web.post("/admin/partner-settings/edit/?id=1", {"credit": "first"})
    db.session.expire_all()
    assert db.session.get(PartnerSettings, 1).credit == "latest"
