"""A list URL whose query string the export link cannot repeat ("export_type",
"endpoint", url_for's own "_external"...) is answered on every list, never
with an error."""

from urllib.parse import parse_qs, urlsplit

import pytest
from flask_admin.contrib.sqla import ModelView

from tests.record_helpers import flashes


def _lists(app):
    from flask import url_for

    with app.test_request_context():
        return [
            url_for(f"{view.endpoint}.index_view")
            for view in app.extensions["admin"][0]._views
            if isinstance(view, ModelView)
        ]


@pytest.mark.parametrize(
    "args",
    [{"export_type": "x"}, {"export_type": "csv' onclick='x"}, {"endpoint": "x"}],
)
def test_every_list_refuses_an_unknown_export_type(app, web, login_as, args):
    login_as("admin")
    lists = _lists(app)
    assert len(lists) > 40
    for url in lists:
        response = web.get(url, query_string={**args, "search": "a"})
        assert response.status_code in (302, 403), (url, response.status_code)
        if response.status_code == 403:
            continue
        target = urlsplit(response.headers["Location"])
        assert target.path == url, url
        assert parse_qs(target.query) == {"search": ["a"]}, url
        expected = (
            []
            if "endpoint" in args
            else [f"This list has no export “{args['export_type'][:40]}”."]
        )
        assert flashes(web) == expected, url


def test_a_known_export_type_opens_that_export(web, login_as):
    login_as("admin")
    response = web.get("/admin/contact/?export_type=vcf&search=doe")
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/contact/export/vcf/?search=doe"


def test_url_for_arguments_never_reach_the_export_link(web, login_as):
    login_as("admin")
    response = web.get(
        "/admin/contact/?_external=1&_scheme=javascript&_anchor=x&search=doe"
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/contact/?search=doe"
    page = web.get(response.headers["Location"]).get_data(as_text=True)
    assert 'href="/admin/contact/export/csv/?search=doe"' in page


def test_a_long_export_type_is_shortened_in_the_message(web, login_as):
    login_as("admin")
    web.get("/admin/contact/", query_string={"export_type": "y" * 300})
    assert flashes(web) == [f"This list has no export “{'y' * 40}…”."]


def test_the_refusal_is_said_in_the_readers_language(db, web, login_as):
    user = login_as("admin")
    user.locale = "es"
    db.session.commit()
    web.get("/admin/contact/", query_string={"export_type": "x"})
    assert flashes(web) == ["Esta lista no tiene ninguna exportación «x»."]
