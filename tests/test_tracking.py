"""The tracking code: sites, CORS, privacy, sessions, identification, pruning,
page-visit scoring and the Web behaviour tab."""

import json
import time
from datetime import UTC, datetime, timedelta

import itsdangerous
import pytest
from sqlalchemy import func, select

from crm.activity.models import ActivityEvent
from crm.core import signals
from crm.core.errors import ServiceError
from crm.tracking import services
from crm.tracking.models import PageView, TrackedSite, Visitor, WebSession

SHOP = "https://shop.example.com"
T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
PHONE = "phone-visitor-0000000001"
LAPTOP = "laptop-visitor-000000001"


@pytest.fixture
def site(db):
    row = TrackedSite(name="Shop", origins=f"{SHOP}\nhttp://127.0.0.1:8123")
    services.clean_site(row)
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def jane(make_contact):
    return make_contact("Jane", "Doe", email="jane@example.com")


def beacon(client, site, origin=SHOP, headers=None, **fields):
    payload = {
        "e": "view",
        "k": site.site_key,
        "v": PHONE,
        "p": "view-" + "0" * 12 + str(fields.pop("n", 1)),
        "u": f"{SHOP}/",
        "t": "Home",
        "r": "",
    }
    payload.update(fields)
    return client.post(
        "/t/collect",
        data=json.dumps(payload),
        content_type="text/plain;charset=UTF-8",
        headers={"Origin": origin, **(headers or {})},
    )


def count(db, model):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def view(site, at, url=f"{SHOP}/", key=PHONE, n=None, **extra):
    n = n if n is not None else int(at.timestamp())
    return services.record_view(
        site,
        visitor_key=key,
        view_key=f"view-{n:016d}",
        url=url,
        now=at,
        **extra,
    )


# Sites and origins.


@pytest.mark.parametrize(
    ("raw", "origin"),
    [
        ("https://Shop.Example.com", "https://shop.example.com"),
        ("https://shop.example.com:443/", "https://shop.example.com"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_origins_are_normalised(raw, origin):
    assert services.normalise_origin(raw) == origin


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("shop.example.com", "starts with http:// or https://"),
        ("ftp://shop.example.com", "starts with http:// or https://"),
        ("https://", "host name is missing"),
        ("https://shop.example.com/pricing", "no path, query or fragment"),
        ("https://user:pw@shop.example.com", "no user name or password"),
        ("https://shop.example.com:99999", "port is not a number"),
        ("http://[shop.example.com", "is not a web address"),
    ],
)
def test_a_bad_origin_is_refused_with_the_reason(raw, message):
    with pytest.raises(ServiceError, match=message):
        services.normalise_origin(raw)


def test_the_admin_screen_registers_a_site_and_shows_its_code(app, db, web, admin_user):
    web.login(admin_user.email)
    refused = web.post(
        "/admin/tracked_site/new/",
        data={"name": "Blog", "origins": "https://blog.example.com/posts"},
    )
    assert "no path, query or fragment" in refused.get_data(as_text=True)
    unparsed = web.post(
        "/admin/tracked_site/new/", data={"name": "Blog", "origins": "http://[blog"}
    )
    assert unparsed.status_code == 200
    assert "is not a web address" in unparsed.get_data(as_text=True)
    assert count(db, TrackedSite) == 0

    web.post(
        "/admin/tracked_site/new/",
        data={"name": "Blog", "origins": "https://Blog.example.com\nhttp://x.test:81"},
    )
    row = db.session.scalar(select(TrackedSite))
    assert row.origins == "https://blog.example.com\nhttp://x.test:81"
    assert len(row.site_key) >= 16
    details = web.get(f"/admin/tracked_site/details/?id={row.id}").get_data(
        as_text=True
    )
    assert f"/t/{row.site_key}.js" in details and "p.gif" in details


def test_only_administrators_manage_sites(web, login_as):
    login_as()
    assert web.get("/admin/tracked_site/").status_code == 403


# The script.


def test_the_script_is_served_with_its_site_key_and_collector(client, site):
    response = client.get(f"/t/{site.site_key}.js")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/javascript")
    body = response.get_data(as_text=True)
    assert f'"key": "{site.site_key}"' in body
    assert '"collect": "http://localhost/t/collect"' in body
    assert "doNotTrack" in body and "crmConsent" in body and "sendBeacon" in body
    # No third-party request: the only address in it is its own collector.
    assert "http" not in body.replace("http://localhost/t/collect", "").replace(
        "https:", ""
    )
    assert client.get("/t/nosuchsite.js").status_code == 404


# CORS.


def test_an_allowed_origin_is_answered_and_recorded(client, db, site):
    response = beacon(client, site, u=f"{SHOP}/pricing?utm_source=news", t="Pricing")
    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in response.headers["Vary"]
    page = db.session.scalar(select(PageView))
    assert (page.url, page.page, page.title) == (
        f"{SHOP}/pricing?utm_source=news",
        f"{SHOP}/pricing",
        "Pricing",
    )


@pytest.mark.parametrize(
    ("origin", "url"),
    [
        ("https://evil.example.net", f"{SHOP}/"),  # another site's page
        ("null", f"{SHOP}/"),  # a sandboxed frame or a file
        (SHOP, "https://evil.example.net/"),  # a page that is not the site's
    ],
)
def test_other_origins_are_refused_and_nothing_is_recorded(
    client, db, site, origin, url
):
    response = beacon(client, site, origin=origin, u=url)
    assert response.status_code in (400, 403)
    if response.status_code == 403:
        assert "Access-Control-Allow-Origin" not in response.headers
    assert count(db, PageView) == count(db, Visitor) == 0


@pytest.mark.parametrize(
    "origin", ["http://[", "http://[::1", "https://shop\u2100example.com"]
)
def test_an_origin_that_does_not_parse_is_refused(client, db, site, origin):
    assert beacon(client, site, origin=origin).status_code == 403
    assert client.options("/t/collect", headers={"Origin": origin}).status_code == 403
    assert count(db, PageView) == 0


def test_a_referrer_or_page_that_does_not_parse_is_not_recorded(client, db, site):
    assert beacon(client, site, r="http://[x").status_code == 204
    assert beacon(client, site, n=2, u="http://[x").status_code == 400
    pixel = client.get(
        f"/t/{site.site_key}/p.gif", query_string={"u": f"{SHOP}/", "r": "http://[x"}
    )
    assert pixel.status_code == 200
    assert client.get(
        f"/t/{site.site_key}/p.gif", query_string={"u": "http://[x"}
    ).data.startswith(b"GIF89a")
    assert [v.referrer for v in db.session.scalars(select(PageView))] == ["", ""]


def test_nul_characters_in_a_view_are_dropped(client, db, site):
    response = beacon(
        client,
        site,
        u=f"{SHOP}/a\x00b",
        t="Ho\x00me",
        r="https://news.example.org/\x00",
        headers={"User-Agent": "Bot\x00"},
    )
    pixel = client.get(
        f"/t/{site.site_key}/p.gif",
        query_string={"u": f"{SHOP}/nojs", "t": "No\x00js"},
        headers={"User-Agent": "Bot\x00"},
    )

    assert (response.status_code, pixel.status_code) == (204, 200)
    views = db.session.scalars(select(PageView).order_by(PageView.id)).all()
    assert [(v.url, v.title) for v in views] == [
        (f"{SHOP}/ab", "Home"),
        (f"{SHOP}/nojs", "Nojs"),
    ]
    assert views[0].referrer == "https://news.example.org/"
    assert {v.user_agent for v in db.session.scalars(select(Visitor))} == {"Bot"}


def test_a_view_key_longer_than_its_column_is_not_a_view(client, db, site):
    assert beacon(client, site, p="v" * 41).status_code == 400
    assert beacon(client, site, p="v" * 40).status_code == 204
    assert count(db, PageView) == 1


def test_a_referrer_keeps_no_identity_token(app, client, db, site, jane):
    token = services.identity_token(jane.id)
    beacon(
        client,
        site,
        u=f"{SHOP}/next",
        r=f"{SHOP}/?x=1&{services.IDENTITY_PARAM}={token}",
    )
    client.get(
        f"/t/{site.site_key}/p.gif",
        query_string={"u": f"{SHOP}/nojs", "r": f"{SHOP}/?crm_vt={token}"},
    )

    referrers = db.session.scalars(
        select(PageView.referrer).order_by(PageView.id)
    ).all()
    assert referrers == [f"{SHOP}/?x=1", f"{SHOP}/"]


def test_a_site_key_with_a_nul_character_names_no_site(client, db, site):
    assert client.get("/t/a%00b.js").status_code == 404
    assert client.get("/t/a%00b/p.gif").status_code == 404
    assert beacon(client, site, k=site.site_key + "\x00").status_code == 403
    assert count(db, PageView) == 0


def test_a_beacon_without_origin_or_site_is_refused(client, db, site):
    response = client.post("/t/collect", data=json.dumps({"k": site.site_key}))
    assert response.status_code == 403
    response = beacon(client, site, k="nosuchsite")
    assert response.status_code == 403
    response = client.post("/t/collect", data=b"not json", headers={"Origin": SHOP})
    assert response.status_code == 403
    assert count(db, PageView) == 0


def test_a_preflight_is_answered_only_for_registered_origins(client, site):
    allowed = client.options("/t/collect", headers={"Origin": SHOP})
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    refused = client.options(
        "/t/collect", headers={"Origin": "https://evil.example.net"}
    )
    assert refused.status_code == 403
    assert "Access-Control-Allow-Origin" not in refused.headers


# Privacy.


@pytest.mark.parametrize(
    ("headers", "fields"),
    [
        ({"DNT": "1"}, {}),
        ({"Sec-GPC": "1"}, {}),
        ({}, {"c": False}),
    ],
)
def test_do_not_track_and_no_consent_record_nothing(client, db, site, headers, fields):
    response = beacon(client, site, headers=headers, **fields)
    assert response.status_code == 204
    assert count(db, PageView) == count(db, Visitor) == 0


def test_the_pixel_records_a_view_unless_do_not_track(client, db, site):
    pixel = f"/t/{site.site_key}/p.gif"
    response = client.get(pixel, headers={"Referer": f"{SHOP}/nojs", "DNT": "1"})
    assert response.status_code == 200 and response.data.startswith(b"GIF89a")
    assert count(db, PageView) == 0

    response = client.get(pixel, headers={"Referer": f"{SHOP}/nojs"})
    assert response.headers["Content-Type"] == "image/gif"
    assert count(db, PageView) == 1
    assert "crm_px=" in response.headers["Set-Cookie"]
    client.get(pixel, headers={"Referer": f"{SHOP}/other"})
    assert count(db, Visitor) == 1 and count(db, PageView) == 2

    client.get(pixel, headers={"Referer": "https://evil.example.net/"})
    assert count(db, PageView) == 2
    assert client.get("/t/nosuchsite/p.gif").status_code == 404


# Sessions.


def test_thirty_idle_minutes_end_a_session(db, site):
    view(
        site,
        T0,
        f"{SHOP}/?utm_source=news&utm_campaign=may",
        referrer="https://search.example/q",
    )
    view(site, T0 + timedelta(minutes=10), f"{SHOP}/pricing")
    view(site, T0 + timedelta(minutes=39), f"{SHOP}/pricing/team")
    view(site, T0 + timedelta(minutes=70), f"{SHOP}/about")
    db.session.commit()

    sessions = db.session.scalars(select(WebSession).order_by(WebSession.id)).all()
    assert [(s.page_count, s.seconds) for s in sessions] == [(3, 39 * 60), (1, 0)]
    first = sessions[0]
    assert (first.utm_source, first.utm_campaign, first.referrer) == (
        "news",
        "may",
        "https://search.example/q",
    )
    assert first.landing_page == f"{SHOP}/"
    assert sessions[1].utm_source == "" and sessions[1].referrer == ""


def test_the_leave_beacon_records_time_on_page(client, db, site):
    beacon(client, site, n=1)
    response = beacon(client, site, e="leave", n=1, s=95)
    assert response.status_code == 204
    db.session.expire_all()
    page = db.session.scalar(select(PageView))
    assert page.seconds == 95
    # A forged huge duration is capped, a repeated view key adds no view.
    beacon(client, site, e="leave", n=1, s=10**9)
    beacon(client, site, n=1)
    db.session.expire_all()
    assert db.session.scalar(select(PageView)).seconds == services.MAX_PAGE_SECONDS
    assert count(db, PageView) == 1


# Identification.


@pytest.mark.parametrize("seconds", ["1e400", "-1e400", "NaN", '"ten"', "[1]"])
def test_a_leave_beacon_with_an_odd_duration_changes_nothing(client, db, site, seconds):
    beacon(client, site)
    view_key = "view-" + "0" * 12 + "1"
    body = (
        f'{{"e": "leave", "k": "{site.site_key}", "v": "{PHONE}", '
        f'"p": "{view_key}", "s": {seconds}}}'
    )
    response = client.post(
        "/t/collect", data=body, content_type="text/plain", headers={"Origin": SHOP}
    )
    assert response.status_code == 204
    db.session.expire_all()
    assert db.session.scalar(select(PageView)).seconds is None


def test_identifying_attaches_earlier_and_later_visits_of_each_device(
    app, db, site, jane
):
    view(site, T0, f"{SHOP}/pricing", key=PHONE)
    view(site, T0 + timedelta(hours=2), f"{SHOP}/", key=LAPTOP)
    db.session.commit()

    # A form read the phone's id and identified it.
    signals.visitor_identified.send(app, contact=jane, visitor_id=PHONE)
    db.session.commit()
    phone = db.session.scalar(select(Visitor).where(Visitor.visitor_key == PHONE))
    assert phone.contact_id == jane.id
    events = db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.kind == "web_visit")
    ).all()
    assert [(e.contact_id, e.target, e.occurred_at) for e in events] == [
        (jane.id, f"{SHOP}/pricing", T0)
    ]

    # A later view of the phone joins the contact at once.
    view(site, T0 + timedelta(days=1), f"{SHOP}/shop", key=PHONE)
    # The laptop follows a tracked e-mail link: its token identifies it too.
    token = services.identity_token(jane.id)
    view(
        site,
        T0 + timedelta(days=1, hours=1),
        f"{SHOP}/offer?{services.IDENTITY_PARAM}={token}",
        key=LAPTOP,
        identity=token,
    )
    db.session.commit()

    laptop = db.session.scalar(select(Visitor).where(Visitor.visitor_key == LAPTOP))
    assert laptop.contact_id == jane.id
    sessions = db.session.scalars(
        select(WebSession).where(WebSession.contact_id == jane.id)
    ).all()
    assert len(sessions) == 4
    assert count(db, ActivityEvent) >= 4
    kept = db.session.scalars(select(PageView.url).order_by(PageView.id)).all()
    assert kept[-1] == f"{SHOP}/offer"  # the token is not kept in the URL


def test_an_id_identified_before_its_first_view_waits_for_it(app, db, site, jane):
    signals.visitor_identified.send(app, contact=jane, visitor_id=PHONE)
    view(site, T0, f"{SHOP}/")
    db.session.commit()
    assert count(db, Visitor) == 1
    assert db.session.scalar(select(WebSession)).contact_id == jane.id


def test_an_expired_or_forged_token_identifies_nobody(app, db, site, jane, monkeypatch):
    real = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(
        itsdangerous.timed.TimestampSigner,
        "get_timestamp",
        lambda self: int(time.time()) - app.config["TRACKING_TOKEN_MAX_AGE"] - 60,
    )
    expired = services.identity_token(jane.id)
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", real)
    good = services.identity_token(jane.id)
    forged = good[:-2] + ("AA" if not good.endswith("AA") else "BB")
    other_salt = itsdangerous.URLSafeTimedSerializer(app.secret_key).dumps(jane.id)

    assert services.verify_identity_token(good) == jane.id
    for n, token in enumerate((expired, forged, other_salt, "garbage"), start=1):
        assert services.verify_identity_token(token) is None
        view(site, T0, f"{SHOP}/", n=n, identity=token)
    db.session.commit()
    assert db.session.scalar(select(Visitor)).contact_id is None
    assert count(db, ActivityEvent) == 0


def test_a_tracked_mail_click_carries_a_token_only_into_registered_sites(
    app, db, client, site, jane
):
    from crm.mail import tracking
    from crm.mail.models import Message

    message = Message(
        contact_id=jane.id,
        address="jane@example.com",
        subject="Offer",
        purpose="marketing",
        state="sent",
    )
    db.session.add(message)
    db.session.commit()

    into_site = client.get(
        f"/m/c/{tracking.sign(tracking.CLICK, [message.id, f'{SHOP}/offer?x=1'])}"
    )
    location = into_site.headers["Location"]
    assert location.startswith(f"{SHOP}/offer?x=1&{services.IDENTITY_PARAM}=")
    token = location.rsplit("=", 1)[1]
    assert services.verify_identity_token(token) == jane.id

    elsewhere = client.get(
        f"/m/c/{tracking.sign(tracking.CLICK, [message.id, 'https://other.example/'])}"
    )
    assert elsewhere.headers["Location"] == "https://other.example/"


# Scoring.


def test_page_visit_rules_score_pages_under_their_url_prefix(app, db, site, jane):
    from crm.scoring import services as scoring
    from crm.scoring.models import ScoreRule

    view(site, T0, f"{SHOP}/pricing", key=LAPTOP)
    db.session.commit()
    rule = ScoreRule(name="Pricing", trigger="page_visited", points=5)
    rule.target = f"{SHOP}/pricing"
    scoring.clean_rule(rule)  # the prefix is one the rule may choose
    any_page = ScoreRule(name="Any page", trigger="page_visited", points=1)
    db.session.add_all([rule, any_page])
    db.session.commit()
    with pytest.raises(ServiceError):
        scoring.clean_rule(
            ScoreRule(name="x", trigger="page_visited", points=1, target="nope")
        )

    signals.visitor_identified.send(app, contact=jane, visitor_id=PHONE)
    view(site, T0, f"{SHOP}/")
    view(site, T0 + timedelta(minutes=1), f"{SHOP}/about")
    view(site, T0 + timedelta(minutes=2), f"{SHOP}/pricing/team")
    view(site, T0 + timedelta(minutes=3), f"{SHOP}/pricing/team")  # a reload
    db.session.commit()

    assert scoring.score_of(jane.id, now=T0 + timedelta(hours=1)) == 5 + 3


# Pruning.


def test_visitors_inactive_for_90_days_are_summarised_and_pruned(app, db, site, jane):
    signals.visitor_identified.send(app, contact=jane, visitor_id=PHONE)
    for minute, path in enumerate(("/", "/pricing", "/pricing", "/about")):
        view(site, T0 + timedelta(minutes=minute), f"{SHOP}{path}")
    view(site, T0 + timedelta(days=80), f"{SHOP}/", key=LAPTOP)
    db.session.commit()

    assert services.prune(now=T0 + timedelta(days=89)) == 0
    assert services.prune(now=T0 + timedelta(days=91)) == 1
    db.session.commit()

    phone = db.session.scalar(select(Visitor).where(Visitor.visitor_key == PHONE))
    assert phone.summary == {
        "sessions": 1,
        "page_views": 4,
        "first_seen": T0.isoformat(),
        "last_seen": (T0 + timedelta(minutes=3)).isoformat(),
        "top_pages": [[f"{SHOP}/pricing", 2], [f"{SHOP}/", 1], [f"{SHOP}/about", 1]],
    }
    assert phone.contact_id == jane.id
    remaining = db.session.scalars(select(PageView.visitor_id)).all()
    assert set(remaining) == {
        db.session.scalar(select(Visitor.id).where(Visitor.visitor_key == LAPTOP))
    }
    # The history keeps the visit; its details are gone.
    assert count(db, ActivityEvent) >= 1

    # Later visits add to the kept totals.
    view(site, T0 + timedelta(days=100), f"{SHOP}/pricing")
    db.session.commit()
    totals = services.summarise(phone)
    assert (totals["sessions"], totals["page_views"]) == (2, 5)
    assert totals["top_pages"][0] == [f"{SHOP}/pricing", 3]


def test_the_prune_command_and_the_daily_beat_prune(app, db, site, runner):
    from apscheduler.schedulers.background import BackgroundScheduler

    from crm.automation import scheduler

    view(site, T0, f"{SHOP}/")
    db.session.commit()
    result = runner.invoke(args=["tracking", "prune", "--days", "90"])
    assert result.exit_code == 0, result.output
    assert "1 inactive visitors summarised" in result.output
    assert count(db, PageView) == 0

    view(site, datetime.now(UTC) - timedelta(days=91), f"{SHOP}/", key=LAPTOP)
    db.session.commit()
    assert scheduler.prune_web_visitors(app, now=datetime.now(UTC)) == 1

    beat = BackgroundScheduler(timezone="UTC")
    scheduler.add_beat_jobs(beat, app, 5.0)
    job = beat.get_job("tracking-prune")
    assert job is not None and job.func is scheduler.prune_web_visitors
    assert str(job.trigger).startswith("cron[")


# The tab.


def test_the_web_behaviour_tab_shows_visits_and_browsers(
    app, db, web, site, make_contact, login_as
):
    owner = login_as()
    jane = make_contact("Jane", "Doe", owner=owner)
    view(
        site,
        T0,
        f"{SHOP}/?utm_source=news&utm_medium=email",
        referrer="https://search.example/q",
        title="Home <b>page</b>",
        user_agent="Phone browser",
    )
    view(site, T0 + timedelta(minutes=5), f"{SHOP}/pricing", title="Pricing")
    view(site, T0 + timedelta(days=1), f"{SHOP}/about", key=LAPTOP)
    services.identify_key(jane, PHONE)
    services.identify_key(jane, LAPTOP)
    db.session.commit()

    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=web").get_data(
        as_text=True
    )
    assert "This tab is not available yet" not in page
    assert page.count('class="web-session ') == 2
    assert "https://search.example/q" in page
    assert 'utm_source: <span class="session-utm_source">news</span>' in page
    assert "Home &lt;b&gt;page&lt;/b&gt;" in page
    assert "Time on site: 5 min 0 s" in page
    assert "Phone browser" in page and "#2" in page
    assert f"<code>{SHOP}/pricing</code> (1)" in page

    history = web.get(f"/admin/contact/details/?id={jane.id}&tab=activity")
    text = history.get_data(as_text=True)
    assert "Web visit" in text and f"2 pages, 5 min, from {SHOP}/" in text


def test_a_browser_that_moves_to_another_contact_shows_none_of_the_first_ones_visits(
    app, db, web, site, make_contact, login_as
):
    owner = login_as()
    jane = make_contact("Jane", "Doe", owner=owner)
    john = make_contact("John", "Roe", email="john@example.com")
    services.identify_key(john, PHONE)
    view(site, T0, f"{SHOP}/johns-secret-page")
    db.session.commit()
    services.prune(now=T0 + timedelta(days=91))
    view(site, T0 + timedelta(days=92), f"{SHOP}/johns-second-page")
    services.identify_key(jane, PHONE, now=T0 + timedelta(days=93))
    view(site, T0 + timedelta(days=93), f"{SHOP}/pricing")
    db.session.commit()

    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=web").get_data(
        as_text=True
    )
    assert f"{SHOP}/pricing" in page
    assert "johns-" not in page
    phone = db.session.scalar(select(Visitor).where(Visitor.visitor_key == PHONE))
    totals = services.summarise(phone)
    assert (totals["sessions"], totals["page_views"]) == (1, 1)


def test_the_tab_says_when_nothing_is_known(web, make_contact, login_as):
    owner = login_as()
    jane = make_contact("Jane", "Doe", owner=owner)
    page = web.get(f"/admin/contact/details/?id={jane.id}&tab=web")
    assert 'id="no-visits"' in page.get_data(as_text=True)
