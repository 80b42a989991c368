"""Opens, clicks, unsubscribe and the one-click header, through real mail."""

import pytest
from itsdangerous import URLSafeSerializer
from sqlalchemy import select

from crm.activity.models import ActivityEvent
from crm.mail import services, statuses, tracking
from crm.mail.models import EmailStatusChange, Message
from tests.mail_helpers import compose, html_of, paths


@pytest.fixture
def app_config(app_config, smtp_server):
    return {**app_config, "MAIL_URL": smtp_server.url, "MAIL_FROM": "crm@example.com"}


@pytest.fixture
def jane(make_contact, login_as):
    return make_contact("Jane", "Doe", email="Jane@Example.com", owner=login_as())


@pytest.fixture
def opted_in(db, jane):
    services.opt_in("jane@example.com", "Signed up at the fair", None)
    db.session.commit()


def _send(web, smtp_server, jane, **fields):
    fields.setdefault(
        "body", '<p>See <a href="https://shop.example.com/offer?a=1&b=2">it</a></p>'
    )
    before = len(smtp_server.messages)
    compose(web, jane, **fields)
    return smtp_server.wait_for(before + 1)[-1]


def _events(db, kind):
    return db.session.scalars(
        select(ActivityEvent).where(ActivityEvent.kind == kind)
    ).all()


def test_the_pixel_records_opens_per_message_and_address(
    db, client, web, jane, smtp_server
):
    received = _send(web, smtp_server, jane)
    [pixel] = paths(html_of(received), "o/")

    first = client.get(pixel, headers={"User-Agent": "MailReader/1"})
    client.get(pixel)

    assert first.status_code == 200 and first.mimetype == "image/gif"
    db.session.expire_all()
    message = db.session.scalar(select(Message))
    assert message.open_count == 2 and len(message.opens) == 2
    assert message.opens[0].user_agent == "MailReader/1"
    status = services.find_status("jane@example.com")
    assert status.last_open_at == message.last_open_at
    assert status.last_sent_at is not None
    opened = _events(db, "email_opened")
    assert [e.target for e in opened] == [f"message:{message.id}"] * 2


def test_a_forged_pixel_still_gets_an_image_and_records_nothing(db, client, jane):
    response = client.get("/m/o/forged.gif")
    assert response.status_code == 404 and response.mimetype == "image/gif"
    assert _events(db, "email_opened") == []


def test_a_click_redirects_to_the_signed_url_and_is_recorded(
    db, client, web, jane, smtp_server
):
    received = _send(web, smtp_server, jane)
    [link] = paths(html_of(received), "c/")
    assert "shop.example.com" not in html_of(received)

    response = client.get(link)

    assert response.status_code == 302
    assert response.headers["Location"] == "https://shop.example.com/offer?a=1&b=2"
    db.session.expire_all()
    message = db.session.scalar(select(Message))
    assert message.click_count == 1
    assert message.clicks[0].url == "https://shop.example.com/offer?a=1&b=2"
    assert message.clicks[0].link_id == message.links[0].id
    assert services.find_status("jane@example.com").last_click_at is not None
    [event] = _events(db, "email_clicked")
    assert event.target == f"message:{message.id}"
    assert event.data == {"url": "https://shop.example.com/offer?a=1&b=2"}


def test_a_tampered_click_token_is_refused_and_never_redirects(
    app, db, client, web, jane, smtp_server
):
    from itsdangerous import URLSafeSerializer

    received = _send(web, smtp_server, jane)
    [link] = paths(html_of(received), "c/")
    token = link.rsplit("/", 1)[1]
    message_id = db.session.scalar(select(Message.id))
    payload, _dot, signature = token.rpartition(".")
    # The same signature on another URL, a guessed key, and plain garbage.
    forged_payload = URLSafeSerializer("x").dump_payload(
        [message_id, "https://evil.example.net/"]
    )
    other_key = URLSafeSerializer("guessed", salt="mail-click").dumps(
        [message_id, "https://evil.example.net/"]
    )
    for bad in (
        f"{forged_payload.decode()}.{signature}",
        other_key,
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        "9001",
    ):
        response = client.get(f"/m/c/{bad}")
        assert response.status_code == 404, bad
        assert "Location" not in response.headers
        assert "evil.example.net" not in response.get_data(as_text=True)
    assert _events(db, "email_clicked") == []


def test_marketing_mail_carries_an_unsubscribe_link_and_one_click_header(
    db, web, jane, opted_in, smtp_server
):
    received = _send(web, smtp_server, jane, purpose="marketing")
    header = received["List-Unsubscribe"]
    assert header.startswith("<http") and header.endswith(">")
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [link] = paths(html_of(received), "u/")
    assert link in header


def test_the_unsubscribe_link_asks_then_opts_out_at_once_with_history(
    db, client, web, jane, opted_in, smtp_server
):
    received = _send(web, smtp_server, jane, purpose="marketing")
    [link] = paths(html_of(received), "u/")

    page = client.get(link)
    assert page.status_code == 200
    assert "jane@example.com" in page.get_data(as_text=True).lower()
    assert services.find_status("jane@example.com").status == statuses.SINGLE_OPT_IN
    done = client.post(link, data={})

    assert done.status_code == 200
    db.session.expire_all()
    status = services.find_status("jane@example.com")
    assert status.status == statuses.MANUAL
    change = status.changes[0]
    assert (change.old_status, change.new_status, change.source) == (
        statuses.SINGLE_OPT_IN,
        statuses.MANUAL,
        "unsubscribe_link",
    )
    [event] = _events(db, "email_unsubscribed")
    assert event.contact_id == jane.id


def test_the_one_click_post_needs_no_csrf_token_and_opts_out(
    db, client, web, jane, opted_in, smtp_server
):
    received = _send(web, smtp_server, jane, purpose="marketing")
    url = received["List-Unsubscribe"].strip("<>")
    path = url.split("localhost", 1)[1]

    response = client.post(path, data={"List-Unsubscribe": "One-Click"})

    assert response.status_code == 200
    db.session.expire_all()
    status = services.find_status("jane@example.com")
    assert status.status == statuses.LIST_UNSUBSCRIBE
    assert status.changes[0].source == "list_unsubscribe"
    assert _events(db, "email_unsubscribed")


def test_after_unsubscribing_marketing_is_refused_but_one_to_one_still_goes(
    db, client, web, jane, opted_in, smtp_server
):
    received = _send(web, smtp_server, jane, purpose="marketing")
    [link] = paths(html_of(received), "u/")
    client.post(link)

    refused = compose(web, jane, purpose="marketing", subject="Sale")
    assert "may not receive marketing e-mail" in refused.get_data(as_text=True)
    compose(web, jane, purpose="one_to_one", subject="Your invoice")
    assert smtp_server.wait_for(2)[1]["Subject"] == "Your invoice"


@pytest.mark.parametrize("path", ["/m/u/forged", "/m/confirm/forged", "/m/c/x.y"])
def test_bad_tokens_get_404_on_every_public_endpoint(client, db, path):
    assert client.get(path).status_code == 404
    # A POST without a CSRF token stops at the CSRF check (400) where one applies.
    assert client.post(path).status_code in (400, 404, 405)
    assert db.session.scalar(select(EmailStatusChange)) is None


def test_the_sent_event_describes_the_messages_opens_and_clicks(
    app, db, client, web, jane, smtp_server
):
    from crm.activity import kinds

    received = _send(web, smtp_server, jane)
    [pixel] = paths(html_of(received), "o/")
    [link] = paths(html_of(received), "c/")
    [event] = _events(db, "email_sent")
    with app.test_request_context():
        text = str(kinds.get("email_sent").describe(event))
    assert "Not opened yet" in text and "No link clicked yet" in text

    client.get(pixel)
    client.get(link)
    client.get(link)

    db.session.expire_all()
    [event] = _events(db, "email_sent")
    with app.test_request_context():
        text = str(kinds.get("email_sent").describe(event))
    assert "Opened once, on " in text and "Clicked 2 times, last on " in text


@pytest.mark.parametrize(
    "salt, value",
    [
        (tracking.OPEN, 7),
        (tracking.OPEN, 123456789012),
        (tracking.UNSUBSCRIBE, 42),
        (tracking.CLICK, [3, "https://shop.example.com/offer?a=1&b=2"]),
        (tracking.CLICK, [9, "https://example.com/" + "abc/" * 60]),
        (tracking.CLICK, [11, "https://tienda.example.es/año-nuevo?x=ñ"]),
    ],
)
def test_tokens_are_the_serializers_own_and_verify(app, salt, value):
    token = tracking.sign(salt, value)

    assert token == URLSafeSerializer(app.secret_key, salt=salt).dumps(value)
    assert tracking.verify(salt, token) == value
    assert tracking.verify("another-salt", token) is None


@pytest.mark.parametrize("base_url", [None, "https://crm.example.com/app/"])
@pytest.mark.parametrize(
    "endpoint, salt, make",
    [
        ("mail_public.pixel", tracking.OPEN, tracking.pixel_url),
        ("mail_public.unsubscribe", tracking.UNSUBSCRIBE, tracking.unsubscribe_url),
    ],
)
def test_token_urls_outside_a_request_are_the_built_urls(
    app, monkeypatch, base_url, endpoint, salt, make
):
    monkeypatch.setitem(app.config, "BASE_URL", base_url)

    made = make(5)

    assert made == tracking.external_url(endpoint, token=tracking.sign(salt, 5))
    assert made.startswith((base_url or "http://localhost/").rstrip("/") + "/")


@pytest.mark.parametrize("base_url", [None, "https://crm.example.com/app/"])
def test_token_urls_in_a_request_under_a_sub_path_name_the_app_once(
    app, monkeypatch, base_url
):
    monkeypatch.setitem(app.config, "BASE_URL", base_url)
    outside = tracking.pixel_url(5)

    with app.test_request_context("/", base_url="https://crm.example.com/app/"):
        inside = tracking.pixel_url(5)

    # BASE_URL is the app's whole address, sub-path included: a request
    # under that sub-path gives the same link as a worker, not /app/app/.
    path = outside.removeprefix((base_url or "http://localhost/").rstrip("/"))
    assert inside == "https://crm.example.com/app" + path
    if base_url:
        assert inside == outside
