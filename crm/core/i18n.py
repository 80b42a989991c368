"""Interface language: the user's preferred locale, else the browser's."""

from flask import current_app, request
from flask_babel import get_locale
from flask_login import current_user

from crm.core.text import stored_message
from crm.extensions import babel


def select_locale():
    languages = current_app.config["LANGUAGES"]
    if current_user and getattr(current_user, "is_authenticated", False):
        locale = (current_user.locale or "").split("_")[0].split("-")[0]
        if locale in languages:
            return locale
    if request:
        return (
            request.accept_languages.best_match(languages)
            or (current_app.config["DEFAULT_LOCALE"])
        )
    return current_app.config["DEFAULT_LOCALE"]


def init_app(app) -> None:
    from pathlib import Path

    translations = Path(__file__).resolve().parent.parent / "translations"
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=str(translations),
    )
    app.after_request(declare_language)
    # Texts the system stored in English (reasons, import problems), read back.
    app.add_template_global(stored_message, "stored_message")


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
