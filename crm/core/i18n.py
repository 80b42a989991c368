"""Interface language: the user's preferred locale, else the browser's."""

from flask import current_app, request
from flask_login import current_user

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
