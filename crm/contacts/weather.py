"""Local weather for a contact's billing address, from a pluggable provider.

The record page never waits for this: it loads a small fragment after the
page has rendered. A provider answers ``get(address)`` with a ``Weather``, or
``None`` when the place is unknown, and raises ``WeatherUnavailable`` when the
service cannot be reached or answers nonsense.

A lookup has a deadline for the whole of it (``WEATHER_DEADLINE``), not only
a timeout per read: a server that sends a byte a second never lets a read
time out, and would hold the request and a server thread for minutes.
"""

import logging
import socket
import threading
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

import pycountry
import requests
from flask import current_app, render_template
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger(__name__)

EXTENSION_KEY = "crm_weather"
# A failed call is remembered briefly, so a service that is down is not asked
# again on every record page view.
FAILURE_CACHE_SECONDS = 60

# WMO weather interpretation codes, as Open-Meteo reports them.
CONDITIONS = {
    0: _l("clear sky"),
    1: _l("mainly clear"),
    2: _l("partly cloudy"),
    3: _l("overcast"),
    45: _l("fog"),
    48: _l("fog"),
    51: _l("light drizzle"),
    53: _l("drizzle"),
    55: _l("dense drizzle"),
    56: _l("freezing drizzle"),
    57: _l("freezing drizzle"),
    61: _l("light rain"),
    63: _l("rain"),
    65: _l("heavy rain"),
    66: _l("freezing rain"),
    67: _l("freezing rain"),
    71: _l("light snow"),
    73: _l("snow"),
    75: _l("heavy snow"),
    77: _l("snow grains"),
    80: _l("rain showers"),
    81: _l("rain showers"),
    82: _l("violent rain showers"),
    85: _l("snow showers"),
    86: _l("snow showers"),
    95: _l("thunderstorm"),
    96: _l("thunderstorm with hail"),
    99: _l("thunderstorm with hail"),
}


class WeatherUnavailable(Exception):
    """The provider could not be reached or gave an answer we cannot read."""


@dataclass(frozen=True)
class Weather:
    place: str
    temperature: float
    unit: str
    code: int | None

    @property
    def condition(self) -> str:
        return str(CONDITIONS.get(self.code, "")) if self.code is not None else ""


class Provider(Protocol):
    def get(self, address) -> Weather | None: ...


class TTLCache:
    """A small thread-safe in-process cache with a lifetime per entry."""

    def __init__(self):
        self._items: dict = {}
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return False, None
            expires, value = item
            if expires < time.monotonic():
                del self._items[key]
                return False, None
            return True, value

    def put(self, key, value, seconds: float) -> None:
        with self._lock:
            self._items[key] = (time.monotonic() + seconds, value)


class Deadline:
    """The end of one lookup: the sockets still open then are shut down.

    Shutting a socket down ends a read in progress in the thread that waits
    on it, so the lookup fails at once and the server sees the connection
    closed. Requests' own timeout is for each read only.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds
        self.passed = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._pass)
        self._timer.daemon = True

    def __enter__(self):
        self._token = _DEADLINE.set(self)
        self._timer.start()
        return self

    def __exit__(self, *exc_info):
        self._timer.cancel()
        _DEADLINE.reset(self._token)

    def left(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def watch(self, sock: socket.socket) -> None:
        """Shut ``sock`` down when the deadline passes (at once if it has)."""
        with self._lock:
            if not self.passed:
                self._sockets.append(sock)
                return
        _shut(sock)

    def _pass(self) -> None:
        with self._lock:
            self.passed = True
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:  # closed already
        pass


# The deadline of the lookup running in this context, read by the connections.
_DEADLINE: ContextVar[Deadline | None] = ContextVar("weather_deadline", default=None)


class _Watched:
    """A urllib3 connection whose socket the current lookup's deadline watches."""

    def _new_conn(self):
        sock = super()._new_conn()
        deadline = _DEADLINE.get()
        if deadline is not None:
            deadline.watch(sock)
        return sock


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = type("WatchedHTTPConnection", (_Watched, HTTPConnection), {})


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = type("WatchedHTTPSConnection", (_Watched, HTTPSConnection), {})


_WATCHED_POOLS = {"http": _HTTPPool, "https": _HTTPSPool}


class WatchedAdapter(HTTPAdapter):
    """Requests' adapter with connections that a ``Deadline`` can shut down."""

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS has pools of its own
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


class OpenMeteoProvider:
    """Open-Meteo: the geocoding API finds the city, the forecast API its weather."""

    def __init__(
        self,
        geocode_url,
        forecast_url,
        timeout=1.5,
        cache_seconds=1800,
        deadline=2.0,
    ):
        self.geocode_url = geocode_url.rstrip("/")
        self.forecast_url = forecast_url.rstrip("/")
        self.timeout = timeout
        self.deadline = deadline
        self.cache_seconds = cache_seconds
        self.cache = TTLCache()

    def get(self, address) -> Weather | None:
        """The current weather at the address's city, cached per city and country."""
        city = (address.locality or "").strip()
        if not city:
            return None
        key = (city.casefold(), address.country_code or "")
        found, value = self.cache.get(key)
        if found:
            if isinstance(value, WeatherUnavailable):
                raise value
            return value

        try:
            value = self._fetch(city, address.country_code)
        except WeatherUnavailable as exc:
            self.cache.put(key, exc, min(FAILURE_CACHE_SECONDS, self.cache_seconds))
            raise
        self.cache.put(key, value, self.cache_seconds)
        return value

    def _fetch(self, city: str, country_code: str | None) -> Weather | None:
        """One lookup within the deadline, on a session of its own.

        A connection kept from an earlier lookup would be watched by that
        lookup's deadline, not this one's.
        """
        with Deadline(self.deadline) as deadline, requests.Session() as session:
            session.mount("http://", WatchedAdapter())
            session.mount("https://", WatchedAdapter())
            calls = _Calls(session, deadline, self.timeout)
            return self._read(calls, city, country_code)

    def _read(self, calls, city: str, country_code: str | None) -> Weather | None:
        params = {"name": city, "count": 1, "format": "json"}
        alpha_2 = _alpha_2(country_code)
        if alpha_2:
            params["countryCode"] = alpha_2
        places = calls.json(f"{self.geocode_url}/v1/search", params).get("results")
        if not places:
            return None

        place = places[0]
        try:
            latitude, longitude = float(place["latitude"]), float(place["longitude"])
        except (KeyError, TypeError, ValueError) as exc:
            raise WeatherUnavailable(f"geocoding without coordinates: {exc}") from exc
        forecast = calls.json(
            f"{self.forecast_url}/v1/forecast",
            {
                "latitude": latitude,
                "longitude": longitude,
                "current": "temperature_2m,weather_code",
            },
        )
        try:
            current = forecast["current"]
            temperature = float(current["temperature_2m"])
            code = current.get("weather_code")
            unit = forecast.get("current_units", {}).get("temperature_2m", "°C")
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise WeatherUnavailable(f"forecast without temperature: {exc}") from exc
        return Weather(
            place=str(place.get("name") or city),
            temperature=temperature,
            unit=str(unit),
            code=int(code) if isinstance(code, int | float) else None,
        )


@dataclass
class _Calls:
    """The HTTP calls of one lookup, within its deadline."""

    session: requests.Session
    deadline: Deadline
    timeout: float

    def json(self, url: str, params: dict) -> dict:
        timeout = min(self.timeout, self.deadline.left())
        try:
            if timeout <= 0:
                raise requests.Timeout("no time left")
            response = self.session.get(url, params=params, timeout=timeout)
            response.raise_for_status()
            data = response.json()
        except (requests.RequestException, ValueError) as exc:
            if self.deadline.passed:
                message = f"{url}: no answer within {self.deadline.seconds} s"
                raise WeatherUnavailable(message) from exc
            raise WeatherUnavailable(f"{url}: {exc}") from exc
        if not isinstance(data, dict):
            raise WeatherUnavailable(f"{url}: the answer is not a JSON object")
        return data


def _alpha_2(code: str | None) -> str | None:
    if not code:
        return None
    country = pycountry.countries.get(alpha_3=code)
    return country.alpha_2 if country else None


def install_provider(app, provider: Provider | None) -> None:
    """Use ``provider`` for this app's weather panels (None turns the panel off)."""
    app.extensions[EXTENSION_KEY] = provider


def current_provider() -> Provider | None:
    """This app's provider, built from WEATHER_* settings on first use."""
    extensions = current_app.extensions
    if EXTENSION_KEY not in extensions:
        config = current_app.config
        provider = None
        if config.get("WEATHER_URL") and config.get("WEATHER_GEOCODE_URL"):
            provider = OpenMeteoProvider(
                config["WEATHER_GEOCODE_URL"],
                config["WEATHER_URL"],
                timeout=config["WEATHER_TIMEOUT"],
                cache_seconds=config["WEATHER_CACHE_SECONDS"],
                deadline=config["WEATHER_DEADLINE"],
            )
        extensions[EXTENSION_KEY] = provider
    return extensions[EXTENSION_KEY]


def panel(contact) -> str:
    """The HTML fragment of the weather panel for the contact's billing address."""
    weather, message = _lookup(contact)
    return render_template("contacts/weather.html", weather=weather, message=message)


def _lookup(contact) -> tuple[Weather | None, str | None]:
    provider = current_provider()
    if provider is None:
        return None, _("Weather is not configured.")
    address = contact.billing_address
    if address is None or not (address.locality or "").strip():
        return None, _("Add a city to the billing address to see the local weather.")

    try:
        weather = provider.get(address)
    except WeatherUnavailable as exc:
        log.warning("weather for contact %s is unavailable: %s", contact.id, exc)
        return None, _("Weather is unavailable right now.")
    except Exception:
        log.exception("weather provider failed for contact %s", contact.id)
        return None, _("Weather is unavailable right now.")
    if weather is None:
        return None, _("No weather found for %(city)s.", city=address.locality)
    return weather, None
