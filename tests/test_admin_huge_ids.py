"""An id too large for the database names no row, on every path that reads one:
a field message, a not-found page or a filter that matches nothing, never an
error (PostgreSQL refuses to bind an integer past its 32-bit range, SQLite
one past 64 bits)."""

import pytest
from flask_admin.contrib.sqla import ModelView

from crm.contacts.models import Contact
from crm.core.text import ID_MAX, as_id
from tests.record_helpers import edit, reload, sign_in

HUGE = ["2147483648", "-2147483649", "99999999999999999999"]


@pytest.fixture
def admin(web, db):
    return sign_in(web, db, "ana@example.com", is_admin=True, name="Ana Admin")


@pytest.fixture
def jane(make_contact, admin):
    return make_contact("Jane", "Doe", email="jane@example.com", owner=admin)


def _model_views(app):
    return [
        view
        for view in app.extensions["admin"][0]._views
        if isinstance(view, ModelView)
    ]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12", 12),
        (12, 12),
        (str(ID_MAX), ID_MAX),
        (str(ID_MAX + 1), None),
        (str(-ID_MAX - 2), None),
        ("99999999999999999999", None),
        ("²", None),
        ("abc", None),
        ("", None),
        (None, None),
        (1.5, None),
    ],
)
def test_as_id(raw, expected):
    assert as_id(raw) == expected


@pytest.mark.parametrize("huge", HUGE)
def test_every_details_and_edit_screen_takes_a_huge_id(app, web, admin, jane, huge):
    from flask import url_for

    views = _model_views(app)
    assert len(views) > 40
    for view in views:
        with app.test_request_context():
            urls = [
                url_for(f"{view.endpoint}.details_view", id=huge),
                url_for(f"{view.endpoint}.edit_view", id=huge),
            ]
        for url in urls:
            response = web.get(url)
            assert response.status_code in (200, 302, 403, 404), (url, response)


@pytest.mark.parametrize("huge", HUGE)
def test_the_contact_record_and_weather_of_a_huge_id_are_not_found(
    web, admin, jane, huge
):
    for url in ("/admin/contact/details/", "/admin/contact/weather/"):
        assert web.get(url, query_string={"id": huge}).status_code == 404


@pytest.mark.parametrize("huge", HUGE)
def test_general_tab_refuses_a_huge_owner_id_naming_the_field(
    web, db, admin, jane, huge
):
    response = edit(web, "general", jane.id, owner=huge)
    page = response.get_data(as_text=True)
    assert f"Owner: choose a user from the list (there is no user {huge})." in page
    assert reload(db, Contact, jane.id).owner_id == admin.id


@pytest.mark.parametrize("huge", HUGE)
def test_access_tab_reassign_takes_huge_ids(web, db, admin, jane, huge):
    url = "/admin/contact-access/reassign/"
    response = web.post(url, {"id": str(jane.id), "owner": huge})
    assert response.status_code == 302
    assert reload(db, Contact, jane.id).owner_id == admin.id
    assert web.post(url, {"id": huge, "owner": str(admin.id)}).status_code == 404


@pytest.mark.parametrize("huge", HUGE)
def test_access_tab_share_and_unshare_take_huge_ids(web, admin, jane, huge):
    share, unshare = "/admin/contact-access/share/", "/admin/contact-access/unshare/"
    for url, data in (
        (share, {"principal": f"user:{huge}", "level": "view"}),
        (share, {"principal": f"team:{huge}", "level": "view"}),
        (unshare, {"grant_id": huge}),
    ):
        response = web.post(url, {"id": str(jane.id), **data})
        assert response.status_code in (302, 404), (url, data)


@pytest.mark.parametrize("huge", ["2147483648", "99999999999999999999"])
@pytest.mark.parametrize(
    "url",
    [
        "/admin/contact/",
        "/admin/contact/export/csv/",
        "/admin/contact/export/vcf/",
    ],
)
@pytest.mark.parametrize(
    "flt", ["flt0_owner_is", "flt0_tags_any_of", "flt0_tags_all_of"]
)
def test_contact_filters_with_a_huge_id_match_nothing(web, admin, jane, url, flt, huge):
    # buffered: a streamed export is read inside the request's own context.
    response = web.get(url, query_string={flt: huge}, buffered=True)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert "Jane" not in body and "jane@example.com" not in body


def test_a_tag_filter_keeps_the_ids_in_range(web, db, admin, jane):
    from crm.tags import services as tag_services

    tag = tag_services.get_or_create_tag("VIP")
    tag_services.apply_tag(jane, tag, actor=admin)
    db.session.commit()
    found = web.get(
        "/admin/contact/", query_string={"flt0_tags_any_of": f"{tag.id},2147483648"}
    )
    assert "jane@example.com" in found.get_data(as_text=True)
    none = web.get(
        "/admin/contact/", query_string={"flt0_tags_all_of": f"{tag.id},2147483648"}
    )
    assert "jane@example.com" not in none.get_data(as_text=True)


def test_mass_actions_and_list_editing_drop_huge_ids(web, admin, jane):
    response = web.post(
        "/admin/team/action/",
        {"action": "delete", "rowid": ["2147483648", "99999999999999999999"]},
    )
    assert response.status_code == 302
    response = web.post(
        "/admin/team/ajax/update/",
        {"list_form_pk": "99999999999999999999", "name": "x"},
    )
    assert response.status_code in (404, 400)


def test_every_list_filter_takes_a_huge_number(app, web, admin, jane):
    from flask import url_for

    views = [view for view in _model_views(app) if view._filter_args]
    assert len(views) > 5
    for view in views:
        with app.test_request_context():
            url = url_for(f"{view.endpoint}.index_view")
        for key in view._filter_args:
            args = {f"flt0_{key}": "99999999999999999999"}
            response = web.get(url, query_string=args)
            assert response.status_code in (200, 302, 403), (url, key)


@pytest.mark.parametrize(
    "filter_class, value, matches",
    [
        ("IntEqualFilter", "2147483648", []),
        ("IntNotEqualFilter", "2147483648", ["Jane", "Joe"]),
        ("IntGreaterFilter", "2147483648", []),
        ("IntGreaterFilter", "-99999999999999999999", ["Jane", "Joe"]),
        ("IntSmallerFilter", "99999999999999999999", ["Jane", "Joe"]),
        ("IntSmallerFilter", "-2147483649", []),
        ("IntInListFilter", "99999999999999999999", []),
        ("IntInListFilter", "{owner},99999999999999999999", ["Jane"]),
        ("IntNotInListFilter", "{owner},99999999999999999999", ["Joe", "Nobody"]),
        ("IntNotInListFilter", "2147483648", ["Jane", "Joe", "Nobody"]),
    ],
)
def test_stock_integer_filters_compare_a_huge_value_exactly(
    db, admin, jane, make_contact, make_user, filter_class, value, matches
):
    from flask_admin.contrib.sqla import filters

    from crm.core.admin import bound_int_filter

    make_contact("Joe", "Other", owner=make_user())
    make_contact("Nobody", "Owns")
    flt = bound_int_filter(getattr(filters, filter_class)(Contact.owner_id, "Owner"))
    raw = value.format(owner=admin.id)
    assert flt.validate(raw)
    query = flt.apply(db.session.query(Contact), flt.clean(raw))
    assert sorted(c.given_name for c in query) == matches
