import re

import pytest

from crm import create_app
from crm.config import ConfigError


def test_healthz_answers_json(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_secret_key_required_outside_demo(tmp_path):
    with pytest.raises(ConfigError, match="CRM_SECRET_KEY"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite"})


def test_development_secret_refused_outside_demo(tmp_path):
    from crm.config import DEV_SECRET

    with pytest.raises(ConfigError, match="development secret"):
        create_app(
            {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "SECRET_KEY": DEV_SECRET}
        )


def test_environment_overrides_defaults(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_SECRET_KEY", "from-the-environment")
    monkeypatch.setenv("CRM_DATABASE_URL", f"sqlite:///{tmp_path}/env.sqlite")
    app = create_app()
    assert app.config["SECRET_KEY"] == "from-the-environment"
    assert app.config["SQLALCHEMY_DATABASE_URI"].endswith("env.sqlite")


def test_security_headers_on_every_response(client):
    response = client.get("/login")
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_admin_home_needs_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_web_form_settings_from_the_environment_are_typed(tmp_path):
    from flask import Flask

    from crm import config

    app = Flask("probe", instance_path=str(tmp_path))
    config.load(
        app,
        {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "TESTING": True},
        environ={"CRM_WEBFORMS_PROCESS_LATER": "0", "CRM_WEBFORMS_RATE_WINDOW": "60"},
    )
    assert app.config["WEBFORMS_PROCESS_LATER"] is False
    assert app.config["WEBFORMS_RATE_WINDOW"] == 60
    assert app.config["WEBFORMS_HARD_LIMIT_PER_FORM"] == 3000


def _load(tmp_path, environ):
    from flask import Flask

    from crm import config

    app = Flask("probe", instance_path=str(tmp_path))
    config.load(
        app,
        {"DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite", "TESTING": True},
        environ=environ,
    )
    return app


def test_list_count_caps_from_the_environment_are_numbers(tmp_path):
    app = _load(
        tmp_path,
        {"CRM_LIST_COUNT_CAP": "500", "CRM_RESTRICTED_SEARCH_COUNT_CAP": " 50 "},
    )
    assert app.config["LIST_COUNT_CAP"] == 500
    assert app.config["RESTRICTED_SEARCH_COUNT_CAP"] == 50


CAP_KEYS = ["CRM_LIST_COUNT_CAP", "CRM_RESTRICTED_SEARCH_COUNT_CAP"]


@pytest.mark.parametrize("key", CAP_KEYS)
@pytest.mark.parametrize("raw", ["0", "-1"])
def test_a_list_count_cap_below_one_is_refused(tmp_path, key, raw):
    # PostgreSQL refuses the negative LIMIT such a cap makes (a 500 on the
    # list); SQLite reads it as no limit at all.
    with pytest.raises(ConfigError, match=rf"{key} is {raw}; .* 1 or more"):
        _load(tmp_path, {key: raw})


@pytest.mark.parametrize("key", CAP_KEYS)
@pytest.mark.parametrize("raw", ["1000+", "ten", ""])
def test_a_list_count_cap_that_is_not_a_number_is_refused(tmp_path, key, raw):
    with pytest.raises(ConfigError, match=rf"{key} is {re.escape(repr(raw))}"):
        _load(tmp_path, {key: raw})


def test_a_setting_from_the_environment_that_is_not_a_number_names_itself(tmp_path):
    with pytest.raises(ConfigError, match="CRM_EXPORT_MAX_ROWS is 'lots'"):
        _load(tmp_path, {"CRM_EXPORT_MAX_ROWS": "lots"})
    with pytest.raises(ConfigError, match="CRM_WEATHER_TIMEOUT is '1,5'"):
        _load(tmp_path, {"CRM_WEATHER_TIMEOUT": "1,5"})


SECONDS_KEYS = [
    ("CRM_WEATHER_DEADLINE", 60),
    ("CRM_WEATHER_TIMEOUT", 60),
    ("CRM_SQLITE_BUSY_SECONDS", 3600),
]


@pytest.mark.parametrize("key, limit", SECONDS_KEYS)
@pytest.mark.parametrize("raw", ["0", "-1", "nan", "inf", "-inf", "1e11", "3601"])
def test_a_setting_in_seconds_must_be_positive_finite_and_bounded(
    tmp_path, key, limit, raw
):
    with pytest.raises(ConfigError, match=rf"^{key} is .* above 0 and at most {limit}"):
        _load(tmp_path, {key: raw})


@pytest.mark.parametrize("key, limit", SECONDS_KEYS)
def test_a_setting_in_seconds_takes_its_range(tmp_path, key, limit):
    for raw in ("0.2", str(limit)):
        assert _load(tmp_path, {key: raw}).config[key[4:]] == float(raw)


@pytest.mark.parametrize("value", [0, True, "2", float("nan")])
def test_a_setting_in_seconds_given_as_a_value_is_checked_too(tmp_path, value):
    from flask import Flask

    from crm import config

    app = Flask("probe", instance_path=str(tmp_path))
    overrides = {"TESTING": True, "WEATHER_DEADLINE": value}
    with pytest.raises(ConfigError, match="CRM_WEATHER_DEADLINE is"):
        config.load(app, overrides, environ={})
