"""The local-weather panel: a real HTTP provider (Open-Meteo's API shape)."""

import json
import select
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.record_helpers import record_url, sign_in

# The slow forecast answers after this long; the app gives up long before.
SLOW_SECONDS = 10.0
PLACES = {
    "Berlin": {"name": "Berlin", "latitude": 52.52, "longitude": 13.41},
    "Slow": {"name": "Slow", "latitude": 1.0, "longitude": 2.0},
}


class OpenMeteoLike(BaseHTTPRequestHandler):
    """Answers /v1/search and /v1/forecast the way Open-Meteo does."""

    def do_GET(self):
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.server.calls.append((url.path, query))
        name = query.get("name")
        if url.path == "/v1/search" and name == "Broken":
            return self._send(500, b'{"error": true}')
        if url.path == "/v1/search" and name == "Garbage":
            return self._send(200, b"<html>not json</html>")
        if url.path == "/v1/search":
            place = PLACES.get(name)
            body = {"results": [place]} if place else {"generationtime_ms": 0.3}
            return self._send(200, json.dumps(body).encode())
        if url.path == "/v1/forecast":
            if query.get("latitude") == "1.0":
                time.sleep(SLOW_SECONDS)
            body = {
                "current_units": {"temperature_2m": "°C"},
                "current": {"temperature_2m": 21.4, "weather_code": 2},
            }
            return self._send(200, json.dumps(body).encode())
        return self._send(404, b"{}")

    def _send(self, status, body):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def weather_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), OpenMeteoLike)
    server.daemon_threads = True
    server.calls = []
    server.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}"


def configure(app, url, timeout=1.5, deadline=2.0):
    app.config.update(
        WEATHER_URL=url,
        WEATHER_GEOCODE_URL=url,
        WEATHER_TIMEOUT=timeout,
        WEATHER_DEADLINE=deadline,
    )


class TrickleServer:
    """A server that answers one byte at a time, each well within a read timeout.

    ``mode`` "body" sends the headers at once and then the body byte by
    byte; "headers" sends the status line and headers byte by byte.
    ``closed_early`` is set when the client hangs up before the last byte.
    """

    BYTES = 40
    INTERVAL = 0.4  # 16 s for the whole answer

    def __init__(self, mode):
        self.mode = mode
        self.closed_early = threading.Event()
        self.finished = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        try:
            conn, _address = self.sock.accept()
        except OSError:  # closed by the test
            return
        with conn:
            conn.recv(65536)
            if self.mode == "body":
                head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                conn.sendall(head + b"Content-Length: %d\r\n\r\n" % self.BYTES)
                chunks = [b" "] * self.BYTES
            else:
                chunks = [bytes([b]) for b in b"HTTP/1.1 200 OK\r\nX-Slow: "]
                chunks += [b"a"] * (self.BYTES - len(chunks))
            for chunk in chunks:
                if self._hung_up(conn):
                    self.closed_early.set()
                    return
                try:
                    conn.sendall(chunk)
                except OSError:
                    self.closed_early.set()
                    return
                time.sleep(self.INTERVAL)
        self.finished.set()

    @staticmethod
    def _hung_up(conn) -> bool:
        readable, _w, _x = select.select([conn], [], [], 0)
        try:
            return bool(readable) and conn.recv(1) == b""
        except OSError:
            return True

    def close(self):
        self.sock.close()


@pytest.fixture(params=["body", "headers"])
def trickle_server(request):
    server = TrickleServer(request.param)
    yield server
    server.close()


@pytest.fixture
def contact_in(web, db, make_contact):
    """A contact whose billing address is in ``city`` (and ``country``)."""
    user = sign_in(web, db)

    def make(city, country="DEU"):
        from crm.contacts.models import ContactAddress

        contact = make_contact("Jane", "Doe", email="jane@example.com", owner=user)
        contact.billing_addresses.append(
            ContactAddress(kind="billing", locality=city, country_code=country)
        )
        db.session.commit()
        return contact

    return make


def panel(web, contact):
    response = web.get(f"/admin/contact/weather/?id={contact.id}")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_not_configured_says_so_quietly(web, contact_in):
    assert "Weather is not configured." in panel(web, contact_in("Berlin"))


def test_current_weather_for_the_billing_city(app, web, contact_in, weather_server):
    configure(app, weather_server.url)
    page = panel(web, contact_in("Berlin"))
    assert 'id="weather-now">21 °C, partly cloudy<' in page
    assert "Berlin" in page

    (search_path, search), (forecast_path, forecast) = weather_server.calls
    assert search_path == "/v1/search"
    assert search["name"] == "Berlin" and search["count"] == "1"
    assert search["countryCode"] == "DE"
    assert forecast_path == "/v1/forecast"
    assert (forecast["latitude"], forecast["longitude"]) == ("52.52", "13.41")
    assert forecast["current"] == "temperature_2m,weather_code"


def test_weather_is_cached_between_requests(app, web, contact_in, weather_server):
    configure(app, weather_server.url)
    contact = contact_in("Berlin")
    first = panel(web, contact)
    second = panel(web, contact)
    assert first == second
    assert len(weather_server.calls) == 2


def test_the_record_page_never_waits_for_the_provider(
    app, web, contact_in, weather_server
):
    configure(app, weather_server.url)
    contact = contact_in("Berlin")
    page = web.get(record_url(contact.id)).get_data(as_text=True)
    assert f'data-url="/admin/contact/weather/?id={contact.id}"' in page
    assert 'src="/static/record.js"' in page
    assert weather_server.calls == []


def test_an_unreachable_service_is_reported_quietly(
    app, web, contact_in, closed_port_url
):
    configure(app, closed_port_url)
    started = time.monotonic()
    page = panel(web, contact_in("Berlin"))
    assert "Weather is unavailable right now." in page
    assert time.monotonic() - started < 5


def test_a_slow_service_times_out(app, web, contact_in, weather_server):
    configure(app, weather_server.url, timeout=0.2)
    started = time.monotonic()
    page = panel(web, contact_in("Slow"))
    assert "Weather is unavailable right now." in page
    # Without the timeout the page would wait for the whole slow answer; the
    # margin is wide so a busy machine does not fail it.
    assert time.monotonic() - started < SLOW_SECONDS / 2


@pytest.mark.parametrize("city", ["Broken", "Garbage"])
def test_an_error_answer_is_reported_and_not_retried_at_once(
    app, web, contact_in, weather_server, city
):
    configure(app, weather_server.url)
    contact = contact_in(city)
    assert "Weather is unavailable right now." in panel(web, contact)
    assert "Weather is unavailable right now." in panel(web, contact)
    assert len(weather_server.calls) == 1


def test_an_unknown_city_says_so(app, web, contact_in, weather_server):
    configure(app, weather_server.url)
    assert "No weather found for Atlantis." in panel(web, contact_in("Atlantis"))


def test_a_contact_without_a_billing_city_is_asked_for_one(
    app, web, db, make_contact, weather_server
):
    configure(app, weather_server.url)
    user = sign_in(web, db)
    contact = make_contact("No", "City", email="n@example.com", owner=user)
    assert "Add a city to the billing address" in panel(web, contact)
    assert weather_server.calls == []


def test_a_failing_custom_provider_does_not_break_the_panel(app, web, contact_in):
    from crm.contacts import weather

    class Exploding:
        def get(self, address):
            raise RuntimeError("boom")

    weather.install_provider(app, Exploding())
    assert "Weather is unavailable right now." in panel(web, contact_in("Berlin"))


def test_a_trickling_service_is_cut_off_at_the_deadline(
    app, web, contact_in, trickle_server
):
    # Each byte comes well within the read timeout: only a deadline on the
    # whole lookup ends it before the 16 s the answer takes.
    configure(app, trickle_server.url, timeout=1.5, deadline=1.0)
    page = panel(web, contact_in("Berlin"))
    assert "Weather is unavailable right now." in page
    assert trickle_server.closed_early.wait(timeout=5)
    assert not trickle_server.finished.is_set()
