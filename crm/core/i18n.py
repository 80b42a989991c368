"""Interface language: the user's preferred locale, else the browser's."""

from decimal import Decimal

from babel import Locale, UnknownLocaleError
from babel.numbers import format_currency
from flask import current_app, has_app_context, request
from flask_babel import get_locale
from flask_login import current_user

from crm.core.text import format_phone, stored_message
from crm.extensions import babel


def select_locale():
    languages = current_app.config["LANGUAGES"]
    if current_user and getattr(current_user, "is_authenticated", False):
        locale = interface_language(current_user.locale)
        if locale is not None:
            return locale
    if request:
        return (
            request.accept_languages.best_match(languages)
            or (current_app.config["DEFAULT_LOCALE"])
        )
    return current_app.config["DEFAULT_LOCALE"]


def interface_language(value: str | None) -> str | None:
    """The language of the interface a stored locale is served in ("es_MX",
    "es-MX" and "ES" are "es"), or None: the browser's language decides."""
    language = (value or "").strip().replace("-", "_").split("_")[0].lower()
    return language if language in current_app.config["LANGUAGES"] else None


def interface_languages() -> list[tuple[str, str]]:
    """The languages the interface ships, each named in itself, as language
    pickers show them: ("en", "English"), ("es", "Español")."""
    return [
        (code, locale_name(code, code) or code)
        for code in current_app.config["LANGUAGES"]
    ]


def init_app(app) -> None:
    from pathlib import Path

    translations = Path(__file__).resolve().parent.parent / "translations"
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(translations),
    )
    app.after_request(declare_language)
    app.add_template_filter(money_filter, "money")
    app.add_template_filter(phone_filter, "phone")
    # Texts the system stored in English (reasons, import problems), read back.
    app.add_template_global(stored_message, "stored_message")
    from crm.contacts import picklists

    # Stored values of the configured pick-lists, read in the reader's language.
    app.add_template_global(picklists.contact_type_label, "contact_type_label")
    app.add_template_global(picklists.phone_type_label, "phone_type_label")
    app.add_template_global(picklists.full_name, "contact_full_name")
    app.add_template_global(locale_label, "locale_label")


def phone_filter(number, e164=None) -> str:
    """``{{ p.number|phone(p.e164) }}``: the number formatted for reading."""
    return format_phone(number, e164, current_app.config["DEFAULT_PHONE_REGION"])


def reader_locale() -> str:
    """The locale the reader is served in now ("es"), else the default one."""
    locale = get_locale() if has_app_context() else None
    if locale is None:
        return current_app.config.get("DEFAULT_LOCALE") if has_app_context() else "en"
    return str(locale)


def locale_name(code: str | None, locale: str | None = None) -> str | None:
    """A locale code ("es_MX", "es-MX") named in ``locale`` (default: the reader's
    language), capitalised as an entry of a list reads: "Spanish (Mexico)",
    "Español (México)". None when Babel knows no such locale."""
    try:
        named = Locale.parse((code or "").strip().replace("-", "_"))
        name = named.get_display_name(locale or reader_locale())
    except (ValueError, TypeError, UnknownLocaleError):
        return None
    return name[:1].upper() + name[1:] if name else None


def locale_label(code: str | None) -> str:
    """A stored locale code for reading: "Spanish (Mexico) · es_MX" in English,
    "Español (México) · es_MX" in Spanish; an unknown code as stored."""
    if not code:
        return ""
    name = locale_name(code)
    return f"{name} · {code}" if name else code


def format_money(amount, currency: str) -> str:
    """An amount for the reader: the currency's own decimals, the reader's locale.

    "56.99 USD" reads "$56.99" in English and "56,99 US$" in Spanish; a JPY
    amount has no decimals and a KWD amount three. Every screen, page and
    message that shows money goes through here.
    """
    if isinstance(amount, float):
        raise TypeError("amounts are never floats")
    return format_currency(Decimal(amount or 0), currency, locale=reader_locale())


def money_filter(value, currency: str | None = None) -> str:
    """Template filter ``money``: a Money value, or an amount with its currency."""
    if value is None:
        return ""
    if currency is None:
        return format_money(value.amount, value.currency)
    return format_money(value, currency)


def declare_language(response):
    """Name the page's language on Flask-Admin pages, whose skeleton opens a bare
    ``<html>`` outside any block a template could override."""
    if response.mimetype != "text/html" or response.direct_passthrough:
        return response
    if response.is_streamed:
        return response
    body = response.get_data()
    opening = body.find(b"<html>", 0, 200)
    if opening < 0:
        return response
    language = str(get_locale() or current_app.config["DEFAULT_LOCALE"])
    tag = f'<html lang="{language}">'.encode()
    response.set_data(body[:opening] + tag + body[opening + len(b"<html>") :])
    return response
