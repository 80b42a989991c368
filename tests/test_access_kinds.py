"""Failure kinds A1-A7 (failure-kinds.md, "Who sees what"), one test each."""

import csv
import io

import pytest
from sqlalchemy import func, select

from crm.access import policy
from crm.contacts.models import Contact
from tests.access_helpers import *  # noqa: F403  (fixtures)
from tests.access_helpers import own_only, set_contacts


@pytest.fixture
def jane_and_u1(db, restricted, make_contact):
    """U1 (own only) and Jane, owned by U2 and not shared."""
    u1, u2 = restricted("u1@example.com"), restricted("u2@example.com")
    set_contacts(db, u1, can_export=True, can_delete=True)
    jane = make_contact(
        "Jane", "Doe", email="jane@example.com", phone="+1 555 0100", owner=u2
    )
    mine = make_contact("Mary", "Mine", email="mary@example.com", owner=u1)
    return {"u1": u1, "u2": u2, "jane": jane, "mine": mine}


def contact_count(db):
    db.session.expire_all()
    return db.session.scalar(select(func.count(Contact.id)))


def test_a1_single_record_views_by_id_answer_not_found(db, web, jane_and_u1):
    jane = jane_and_u1["jane"]
    web.login("u1@example.com")
    assert web.get(f"/admin/contact/details/?id={jane.id}").status_code == 404
    edit = web.get(f"/admin/contact/edit/?id={jane.id}", follow_redirects=True)
    assert edit.status_code in (200, 404)
    assert "Jane" not in edit.get_data(as_text=True)
    web.post(f"/admin/contact/edit/?id={jane.id}", {"given_name": "Hacked"})
    web.post("/admin/contact/delete/", {"id": jane.id})
    db.session.expire_all()
    assert db.session.get(Contact, jane.id).given_name == "Jane"
    assert contact_count(db) == 2


@pytest.mark.parametrize("term", ["Jane", "jane@example.com", "555 0100"])
def test_a2_search_and_counts_do_not_leak(db, web, jane_and_u1, term):
    web.login("u1@example.com")
    page = web.get("/admin/contact/", query_string={"search": term}).get_data(
        as_text=True
    )
    assert "Jane Doe" not in page and "jane@example.com" not in page.replace(term, "")
    everything = web.get("/admin/contact/").get_data(as_text=True)
    assert "Mary Mine" in everything and "Jane Doe" not in everything
    assert "2 contacts" not in everything


def test_a3_export_holds_exactly_the_listed_rows_with_formulas_neutralised(
    db, web, jane_and_u1, make_contact
):
    make_contact('=HYPERLINK("x")', "Formula", owner=jane_and_u1["u1"])
    web.login("u1@example.com")
    response = web.get("/admin/contact/export/csv/", buffered=True)
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    body = "\n".join(",".join(r) for r in rows)
    assert "Mary" in body and "Jane" not in body
    assert "'=HYPERLINK" in body
    assert not any(cell.startswith("=") for row in rows for cell in row)

    set_contacts(db, jane_and_u1["u1"], can_export=False)
    refused = web.get("/admin/contact/export/csv/", buffered=True)
    assert refused.status_code in (302, 403, 404)
    assert "Mary" not in refused.get_data(as_text=True)


def test_a4_related_panels_show_a_restricted_placeholder(app, db, jane_and_u1):
    from flask_login import login_user

    from crm.access.display import contact_label, contact_labels

    u1, jane, mine = jane_and_u1["u1"], jane_and_u1["jane"], jane_and_u1["mine"]
    with app.test_request_context():
        login_user(u1)
        hidden = str(contact_label(jane, u1))
        assert "Restricted record" in hidden
        assert "Jane" not in hidden and "jane@example.com" not in hidden
        assert str(jane.id) not in hidden
        shown = str(contact_label(mine.id, u1))
        assert "Mary Mine" in shown and f"id={mine.id}" in shown
        labels = contact_labels([jane, mine, "nonsense"], u1)
        assert set(labels) == {jane.id, mine.id}


def test_a4_labels_escape_names(app, db, jane_and_u1, make_contact):
    from crm.access.display import contact_label

    evil = make_contact("<script>alert(1)</script>", "X", owner=jane_and_u1["u1"])
    with app.test_request_context():
        label = str(contact_label(evil, jane_and_u1["u1"]))
    assert "<script>" not in label and "&lt;script&gt;" in label


def test_a5_pickers_answer_only_visible_rows_and_cap_the_page(
    app, db, jane_and_u1, make_contact
):
    from flask_login import login_user

    from crm.core.admin import SecuredAjaxLoader
    from crm.extensions import db as database

    for n in range(30):
        make_contact(f"Janet{n}", "Many", owner=jane_and_u1["u1"])
    loader = SecuredAjaxLoader("contact", database, Contact, fields=["given_name"])
    with app.test_request_context():
        login_user(jane_and_u1["u1"])
        found = loader.get_list("jan", limit=100_000)
        assert jane_and_u1["jane"].id not in {c.id for c in found}
        assert len(found) == app.config["LOOKUP_PAGE_CAP"]
        assert loader.get_one(str(jane_and_u1["jane"].id)) is None
        assert loader.get_one(str(jane_and_u1["mine"].id)).id == jane_and_u1["mine"].id


def test_a6_nothing_outside_the_permission_layer(app, db, jane_and_u1):
    from crm.core.admin import SecuredModelView, SecuredView
    from crm.extensions import db as database

    mapped = [m.class_ for m in database.Model.registry.mappers]
    assert [m.__name__ for m in mapped if not policy.has_rule(m)] == []
    for view in app.extensions["crm_admin"]._views:
        assert (
            isinstance(view, (SecuredModelView, SecuredView))
            or view.endpoint == "admin"
        )

    class Stranger:
        pass

    assert str(policy.scope(Stranger, jane_and_u1["u1"]).compile()) in ("false", "0")
    assert policy.allowed(jane_and_u1["u1"], Stranger, policy.VIEW) is False


def test_a7_file_downloads_follow_the_contact(app, db, web, make_contact, make_user):
    import io

    from crm.extensions import db as database
    from crm.files import services as files

    file_models = [
        m.class_
        for m in database.Model.registry.mappers
        if "file" in m.class_.__name__.lower()
    ]
    assert file_models and all(policy.has_rule(m) for m in file_models)

    u1 = own_only(db, make_user("u1@example.com"))
    u2 = own_only(db, make_user("u2@example.com"))
    jane = make_contact("Jane", "Doe", owner=u2)
    mine = make_contact("Mine", "Own", owner=u1)
    hidden = files.add_file(jane, name="contract.pdf", stream=io.BytesIO(b"jane's"))
    own = files.add_file(mine, name="own.txt", stream=io.BytesIO(b"mine"))
    db.session.commit()

    web.login("u1@example.com")
    assert web.get(f"/admin/filebox/file/{own.id}/download").data == b"mine"
    hidden_answer = web.get(f"/admin/filebox/file/{hidden.id}/download")
    missing_answer = web.get("/admin/filebox/file/999999/download")
    assert hidden_answer.status_code == missing_answer.status_code == 404
    assert hidden_answer.data == missing_answer.data
    tab = web.get(f"/admin/contact/details/?id={jane.id}&tab=files")
    assert tab.status_code in (302, 404) and b"contract.pdf" not in tab.data

    web.logout()
    web.login("u2@example.com")
    assert web.get(f"/admin/filebox/file/{hidden.id}/download").data == b"jane's"
