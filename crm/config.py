"""Configuration, read in one documented order.

1. The defaults below.
2. ``instance/config.py``, when it exists.
3. ``CRM_*`` environment variables (``CRM_DATABASE_URL`` becomes
   ``DATABASE_URL``, and so on).
4. The mapping passed to ``create_app`` (tests use this).
"""

import math
import os
from pathlib import Path

DEV_SECRET = "dev-only-secret-not-for-production"


class ConfigError(RuntimeError):
    """A required setting is missing or unsafe; the message says what to set."""


DEFAULTS = {
    "DATABASE_URL": None,  # filled with SQLite under instance/ when unset
    "SECRET_KEY": None,
    "DEMO": False,
    "DEBUG": False,
    "TESTING": False,
    "DEFAULT_PHONE_REGION": "US",
    "DEFAULT_LOCALE": "en",
    "CONTACT_TYPES": ["Lead", "Prospect", "Customer", "Partner", "Vendor", "Other"],
    "PHONE_TYPES": ["Work", "Home", "Mobile", "Other"],
    "FAX_TYPES": ["Work", "Home", "Other"],
    "TITLE_TYPES": ["Mr.", "Mrs.", "Ms.", "Dr.", "Prof."],
    "SUFFIX_TYPES": ["Jr.", "Sr.", "II", "III", "PhD"],
    "LANGUAGES": ["en", "es"],
    "WEATHER_URL": None,  # e.g. https://api.open-meteo.com
    "WEATHER_GEOCODE_URL": None,  # e.g. https://geocoding-api.open-meteo.com
    "WEATHER_TIMEOUT": 1.5,  # seconds per connect or read
    "WEATHER_DEADLINE": 2.0,  # seconds for a whole lookup (place and forecast)
    # Seconds a write waits for SQLite's one writer before it is refused.
    "SQLITE_BUSY_SECONDS": 30.0,
    "WEATHER_CACHE_SECONDS": 1800,
    "IMPORT_MAX_BYTES": 20 * 1024 * 1024,
    "IMPORT_STEP_ROWS": 2000,  # rows per step of an import from the screen
    "EXPORT_MAX_ROWS": 100_000,
    "LOOKUP_PAGE_CAP": 20,
    "LIST_COUNT_CAP": 1000,
    # A restricted user's search is counted exactly up to this instead (never
    # past LIST_COUNT_CAP): each match it counts costs it several it may not see.
    "RESTRICTED_SEARCH_COUNT_CAP": 100,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": False,
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_SECURE": False,
    # Sign-in throttling (counted in the database, so shared by all workers).
    "LOGIN_MAX_FAILURES_PER_ACCOUNT": 5,
    "LOGIN_MAX_FAILURES_PER_ADDRESS": 20,
    "LOGIN_FAILURE_WINDOW": 900,  # seconds
    "FLASK_ADMIN_RAISE_ON_VIEW_EXCEPTION": False,
    # E-mail (crm/mail): smtp://host:port, smtp+starttls://user:pass@host:port
    # or smtps://user:pass@host:port; unset in demo mode means the outbox.
    "MAIL_URL": None,
    "MAIL_FROM": None,
    "MAIL_TIMEOUT": 10,
    "MAIL_ATTACHMENT_MAX_BYTES": 10 * 1024 * 1024,
    "MAIL_ATTACHMENTS_MAX_BYTES": 20 * 1024 * 1024,
    "MAIL_SOFT_BOUNCE_LIMIT": 3,
    "BOUNCE_IMAP_URL": None,  # imaps://user:pass@host:993/INBOX
    "BASE_URL": None,  # absolute address of the app, for links in e-mails
    # The seller on invoices: a name, and an address of one or more lines.
    "COMPANY_NAME": None,
    "COMPANY_ADDRESS": None,
    "WTF_CSRF_TIME_LIMIT": None,
    # Web forms (crm/webforms).
    # Seconds a rendered form stays valid.
    "WEBFORMS_TOKEN_MAX_AGE": 24 * 3600,
    # The window the rate limits count in, in seconds.
    "WEBFORMS_RATE_WINDOW": 600,
    # Beyond the soft limit submissions are held for review; beyond the hard
    # limit they are refused and nothing is stored.
    "WEBFORMS_SOFT_LIMIT_PER_ADDRESS": 5,
    "WEBFORMS_HARD_LIMIT_PER_ADDRESS": 30,
    "WEBFORMS_SOFT_LIMIT_PER_FORM": 300,
    "WEBFORMS_HARD_LIMIT_PER_FORM": 3000,
    # True: the public form only checks and queues a submission, and
    # ``flask webforms process`` turns the queue into contacts.
    "WEBFORMS_PROCESS_LATER": False,
    # Bytes that files of submissions held by the rate limits may take on disk
    # in all; past it a held submission keeps only its files' names.
    "WEBFORMS_HELD_FILES_MAX_BYTES": 500 * 1024 * 1024,
    # argon2id parameters: "rfc9106-low-memory" (RFC 9106's second choice, 64 MiB)
    # or "rfc9106-high-memory" (2 GiB). "cheapest" exists for test suites only.
    "PASSWORD_HASH_PROFILE": "rfc9106-low-memory",
    # File box (crm/files): where the bytes live, and the limits users see.
    "FILES_DIR": None,  # default: UPLOAD_DIR/files, else instance/files
    "FILE_MAX_BYTES": 10 * 1024 * 1024,
    "FILEBOX_MAX_BYTES": 100 * 1024 * 1024,
    # Tracking code (crm/tracking).
    "TRACKING_SESSION_IDLE": 30 * 60,  # seconds without a view end a session
    "TRACKING_INACTIVE_DAYS": 90,  # visitors idle this long are summarised
    "TRACKING_TOKEN_MAX_AGE": 3600,  # seconds an e-mail identity token is good
}

_BOOL_KEYS = {
    "DEMO",
    "DEBUG",
    "TESTING",
    "SESSION_COOKIE_SECURE",
    "REMEMBER_COOKIE_SECURE",
    "WEBFORMS_PROCESS_LATER",
}
_FLOAT_KEYS = {"WEATHER_TIMEOUT", "WEATHER_DEADLINE", "SQLITE_BUSY_SECONDS"}
_INT_KEYS = {
    "LIST_COUNT_CAP",
    "RESTRICTED_SEARCH_COUNT_CAP",
    "WEATHER_CACHE_SECONDS",
    "IMPORT_MAX_BYTES",
    "IMPORT_STEP_ROWS",
    "EXPORT_MAX_ROWS",
    "LOGIN_MAX_FAILURES_PER_ACCOUNT",
    "LOGIN_MAX_FAILURES_PER_ADDRESS",
    "LOGIN_FAILURE_WINDOW",
    "MAIL_TIMEOUT",
    "MAIL_ATTACHMENT_MAX_BYTES",
    "MAIL_ATTACHMENTS_MAX_BYTES",
    "MAIL_SOFT_BOUNCE_LIMIT",
    "FILE_MAX_BYTES",
    "FILEBOX_MAX_BYTES",
    "TRACKING_SESSION_IDLE",
    "TRACKING_INACTIVE_DAYS",
    "TRACKING_TOKEN_MAX_AGE",
    "MAX_CONTENT_LENGTH",
    "WEBFORMS_TOKEN_MAX_AGE",
    "WEBFORMS_RATE_WINDOW",
    "WEBFORMS_SOFT_LIMIT_PER_ADDRESS",
    "WEBFORMS_HARD_LIMIT_PER_ADDRESS",
    "WEBFORMS_SOFT_LIMIT_PER_FORM",
    "WEBFORMS_HARD_LIMIT_PER_FORM",
    "WEBFORMS_HELD_FILES_MAX_BYTES",
}


def _from_environment(environ) -> dict:
    values = {}
    for key, raw in environ.items():
        if not key.startswith("CRM_"):
            continue
        name = key[4:]
        if name in _BOOL_KEYS:
            values[name] = raw.strip().lower() in {"1", "true", "yes", "on"}
        elif name in _FLOAT_KEYS:
            values[name] = _number(key, raw, float)
        elif name in _INT_KEYS:
            values[name] = _number(key, raw, int)
        else:
            values[name] = raw
    return values


def _number(key, raw, kind):
    """``raw`` read as a number, or a ConfigError that names the variable."""
    try:
        return kind(raw)
    except ValueError:
        noun = "a whole number" if kind is int else "a number"
        raise ConfigError(f"{key} is {raw!r}; set it to {noun}.") from None


def load(app, overrides=None, environ=None) -> None:
    """Fill ``app.config`` in the documented order and check what is required."""
    app.config.update(DEFAULTS)

    instance_file = Path(app.instance_path) / "config.py"
    if instance_file.exists():
        app.config.from_pyfile(str(instance_file))

    app.config.update(_from_environment(os.environ if environ is None else environ))
    app.config.update(overrides or {})

    if not app.config["DATABASE_URL"]:
        db_file = Path(app.instance_path) / "crm.sqlite"
        app.config["DATABASE_URL"] = f"sqlite:///{db_file}"
    if app.config["SESSION_COOKIE_SECURE"]:
        # A site served over HTTPS keeps the remember-me cookie off plain HTTP too.
        app.config["REMEMBER_COOKIE_SECURE"] = True
    _check_seconds(app.config)
    app.config["SQLALCHEMY_DATABASE_URI"] = app.config["DATABASE_URL"]
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = _engine_options(
        app.config["DATABASE_URL"], app.config["SQLITE_BUSY_SECONDS"]
    )
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        # No request needs more than the largest upload a limit allows; a
        # larger one is refused before any of it is read.
        largest = max(
            app.config["IMPORT_MAX_BYTES"],
            app.config["MAIL_ATTACHMENTS_MAX_BYTES"],
            app.config["FILEBOX_MAX_BYTES"],
        )
        app.config["MAX_CONTENT_LENGTH"] = largest + 1024 * 1024
    _check_secret(app.config)
    _check_password_profile(app.config)
    _check_count_caps(app.config)


#: Settings in seconds and the most each may be: a weather lookup holds up the
#: record's page, a busy SQLite holds up the write waiting for it.
_SECONDS_LIMITS = {
    "WEATHER_TIMEOUT": 60,
    "WEATHER_DEADLINE": 60,
    "SQLITE_BUSY_SECONDS": 3600,
}


def _check_seconds(config) -> None:
    for name, limit in _SECONDS_LIMITS.items():
        value = config[name]
        number = not isinstance(value, bool) and isinstance(value, int | float)
        if not number or not (math.isfinite(value) and 0 < value <= limit):
            raise ConfigError(
                f"CRM_{name} is {value!r}; set it (or {name} in "
                f"instance/config.py) to a number of seconds above 0 and at "
                f"most {limit}."
            )


def _check_count_caps(config) -> None:
    for name in ("LIST_COUNT_CAP", "RESTRICTED_SEARCH_COUNT_CAP"):
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(
                f"CRM_{name} is {value!r}; set it (or {name} in "
                "instance/config.py) to a whole number of 1 or more: the "
                "contact list counts exactly up to it."
            )


def _check_password_profile(config) -> None:
    from crm.auth.passwords import PROFILES, TEST_ONLY_PROFILES

    profile = config["PASSWORD_HASH_PROFILE"]
    if profile not in PROFILES:
        raise ConfigError(
            f"CRM_PASSWORD_HASH_PROFILE is {profile!r}; use one of "
            + ", ".join(sorted(set(PROFILES) - TEST_ONLY_PROFILES))
            + "."
        )
    if profile in TEST_ONLY_PROFILES and not config["TESTING"]:
        raise ConfigError(
            f"CRM_PASSWORD_HASH_PROFILE {profile!r} is for test suites only; "
            "it makes stolen password hashes cheap to crack."
        )


def _engine_options(url: str, busy_seconds: float) -> dict:
    if url.startswith("sqlite"):
        # How long a write waits for SQLite's one writer before it gives up.
        return {"connect_args": {"timeout": busy_seconds}}
    return {"pool_pre_ping": True}


def _check_secret(config) -> None:
    relaxed = config["DEMO"] or config["DEBUG"] or config["TESTING"]
    secret = config.get("SECRET_KEY")
    if not secret:
        if not relaxed:
            raise ConfigError(
                "CRM_SECRET_KEY is not set. Set it in the environment or as "
                "SECRET_KEY in instance/config.py (a long random string, e.g. from "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`)."
            )
        config["SECRET_KEY"] = DEV_SECRET
    elif secret == DEV_SECRET and not relaxed:
        raise ConfigError(
            "CRM_SECRET_KEY is the development secret; set a real one outside "
            "demo and debug mode."
        )
