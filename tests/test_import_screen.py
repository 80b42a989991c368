"""The import screen over HTTP: upload, preview, mapping, dry run, steps."""

import os
import re
from io import BytesIO

import pytest
from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.imports.models import ImportJob


def _upload(web, name, data):
    return web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _job_url(response):
    assert response.status_code == 302, response.get_data(as_text=True)
    match = re.search(r"(/admin/imports/\d+/)$", response.headers["Location"])
    assert match, response.headers["Location"]
    return match.group(1)


def _form(page):
    """The fields of the job form as a browser would post them."""
    fields = {}
    for match in re.finditer(
        r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', page, re.S
    ):
        selected = re.search(r'<option value="([^"]*)" selected', match.group(2))
        first = re.search(r'<option value="([^"]*)"', match.group(2))
        fields[match.group(1)] = (selected or first).group(1)
    checked = re.search(r'name="on_duplicate"[^>]*value="([^"]+)" checked', page)
    fields["on_duplicate"] = checked.group(1)
    return fields


def _run_steps(web, url):
    """Call the step endpoint until the job is done; return the last answer."""
    for steps in range(1, 100):
        answer = web.post(url + "step", headers={"Accept": "application/json"})
        data = answer.get_json()
        if data["next"]:
            return data, steps
    raise AssertionError("the import never finished")


def _count(db, model=Contact):
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def test_keap_file_check_then_import_with_progress(web, login_as, db, corpus, app):
    login_as("user")
    data = (corpus / "crafted" / "keap-style-export.csv").read_bytes()
    url = _job_url(_upload(web, "keap-style-export.csv", data))

    page = web.get(url).get_data(as_text=True)
    assert "utf-8" in page and "Keap / Infusionsoft" in page
    assert re.search(r'id="detected-delimiter">Comma \(,\)<', page)
    assert "Ümit" in page
    form = _form(page)
    assert (form["map-1"], form["map-9"]) == ("given_name", "email1")

    response = web.post(url, {**form, "action": "check"})
    assert response.status_code == 302
    page = web.get(url).get_data(as_text=True)
    assert "created 12, updated 0, skipped 0, failed 0" in page
    assert _count(db) == 0

    response = web.post(url, {**form, "action": "import"})
    assert response.headers["Location"].endswith(url + "progress")
    page = web.get(url + "progress").get_data(as_text=True)
    assert 'id="progress-bar"' in page
    data, _steps = _run_steps(web, url)
    assert (data["state"], data["percent"]) == ("done", 100)
    assert data["summary"] == "created 12, updated 0, skipped 0, failed 0"

    page = web.get(data["next"]).get_data(as_text=True)
    assert "Import finished" in page
    assert "created 12, updated 0, skipped 0, failed 0" in page
    assert 'href="/admin/contact/"' in page
    assert _count(db) == 12
    folder = os.path.join(app.config["UPLOAD_DIR"], "imports")
    assert os.listdir(folder) == []


def test_salesforce_file_in_several_steps(web, login_as, db, corpus, app):
    app.config["IMPORT_STEP_ROWS"] = 25
    login_as("user")
    data = (corpus / "salesforce-dcw" / "Contact.csv").read_bytes()
    url = _job_url(_upload(web, "Contact.csv", data))

    page = web.get(url).get_data(as_text=True)
    assert "Salesforce" in page
    assert "Patricia" in page
    form = _form(page)
    assert form["map-5"] == "given_name" and form["map-25"] == "billing_full"

    web.post(url, {**form, "action": "import"})
    data, steps = _run_steps(web, url)

    assert steps == 5
    assert data["summary"] == "created 102, updated 0, skipped 0, failed 0"
    assert _count(db) == 102
    patricia = db.session.scalar(select(Contact).order_by(Contact.id))
    assert patricia.billing_address.locality == "Anthonyton"

    again, _steps = _run_steps(web, url)
    assert again["summary"] == data["summary"]
    assert _count(db) == 102


def test_adjusted_mapping_and_custom_fields_are_used(web, login_as, db, corpus):
    from crm.customfields.models import CustomField, CustomHeader, CustomTab

    tab = CustomTab(name="Sales")
    header = CustomHeader(tab=tab, name="Profile")
    field = CustomField(
        header=header, label="Favourite Product", field_name="FavouriteProduct"
    )
    db.session.add_all([tab, header, field])
    db.session.commit()
    login_as("user")
    data = (corpus / "crafted" / "keap-style-export.csv").read_bytes()
    url = _job_url(_upload(web, "keap-style-export.csv", data))
    form = _form(web.get(url).get_data(as_text=True))
    assert form["map-38"] == f"custom:{field.id}"

    form["map-34"] = ""  # Lead Source: do not import
    form["map-36"] = "lead_source"  # Contact Type goes into the lead source
    web.post(url, {**form, "action": "import"})
    _run_steps(web, url)

    umit = db.session.scalar(select(Contact).order_by(Contact.id))
    assert umit.lead_source == "Customer"
    assert umit.contact_type is None
    assert [(v.field_id, v.value) for v in umit.custom_values] == [
        (field.id, "Plan Pro")
    ]


def test_a_mapping_without_any_identity_is_refused(web, login_as, db):
    login_as("user")
    url = _job_url(_upload(web, "a.csv", b"email,first_name\njane@example.com,Jane\n"))

    response = web.post(
        url,
        {"map-0": "", "map-1": "", "on_duplicate": "update", "action": "check"},
        follow_redirects=True,
    )

    assert "Map at least one column to a name" in response.get_data(as_text=True)
    assert _count(db) == 0


def test_another_encoding_can_be_chosen(web, login_as, db):
    login_as("user")
    data = "last_name,first_name\nÖzdemir,Ümit\n".encode("cp1252")
    url = _job_url(_upload(web, "names.csv", data))
    page = web.get(url).get_data(as_text=True)
    assert "Detected: cp1252" in page
    assert "Özdemir" in page

    form = {**_form(page), "encoding": "cp1250", "action": "apply"}
    web.post(url, form)
    page = web.get(url).get_data(as_text=True)
    assert re.search(r'<option value="cp1250" selected>', page)

    form = {**_form(page), "action": "import"}
    web.post(url, form)
    _run_steps(web, url)
    assert db.session.scalar(select(Contact.family_name)) == "Özdemir"


def test_vcard_file_through_the_screen(web, login_as, db, corpus):
    login_as("user")
    data = (corpus / "ez-vcard" / "John_Doe_ANDROID.vcf").read_bytes()
    url = _job_url(_upload(web, "android.vcf", data))

    page = web.get(url).get_data(as_text=True)
    assert "vCard" in page and 'id="card-count">6<' in page
    assert "mapping-table" not in page
    web.post(url, {**_form(page), "action": "import"})
    data, _steps = _run_steps(web, url)

    assert data["summary"] == "created 6, updated 0, skipped 0, failed 0"
    page = web.get(url).get_data(as_text=True)
    assert "ÑÑÑÑÑÑÑÑÑÑÑÑÑÑ is not an e-mail address" in page


def test_dry_run_problems_are_listed_by_row_and_column(web, login_as, db):
    login_as("user")
    data = b"last_name,birthday,email\nDoe,1990-01-02,x\nRoe,1990-13-01,r@example.com\n"
    url = _job_url(_upload(web, "p.csv", data))
    form = _form(web.get(url).get_data(as_text=True))

    web.post(url, {**form, "action": "check"})
    page = web.get(url).get_data(as_text=True)

    assert "would create 1, update 0, skip 0; 1 would fail" in page
    assert re.search(r"<td>2</td><td>email</td><td>x is not an e-mail", page)
    # The recent imports say what the dry run found, too.
    recent = web.get("/admin/imports/").get_data(as_text=True)
    assert "would create 1, update 0, skip 0; 1 would fail" in recent
    assert re.search(r"<td>3</td><td>birthday</td><td>month 13 is not valid", page)
    assert _count(db) == 0


def test_file_names_and_cells_are_escaped(web, login_as, db):
    login_as("user")
    data = b"email,<b>Note</b>\n<script>x</script>@example.com,<img src=x>\n"
    url = _job_url(_upload(web, "<svg onload=alert(1)>.csv", data))

    page = web.get(url).get_data(as_text=True)

    assert "<svg onload" not in page and "&lt;svg onload=alert(1)&gt;" in page
    assert "<img src=x>" not in page and "&lt;img src=x&gt;" in page
    assert "<b>Note</b>" not in page


def test_jobs_of_other_users_are_not_found(web, login_as, db, make_user):
    login_as("user")
    url = _job_url(_upload(web, "a.csv", b"email\njane@example.com\n"))
    web.logout()
    other = make_user("other@example.com")
    web.login(other.email)

    assert web.get(url).status_code == 404
    assert web.post(url, {"action": "import"}).status_code == 404
    assert web.post(url + "step").status_code == 404
    assert web.get(url + "progress").status_code == 404
    assert "a.csv" not in web.get("/admin/imports/").get_data(as_text=True)


def test_administrators_see_every_job(web, login_as, db, make_user):
    login_as("user")
    url = _job_url(_upload(web, "a.csv", b"email\njane@example.com\n"))
    web.logout()
    make_user("boss@example.com", is_admin=True)
    web.login("boss@example.com")

    assert web.get(url).status_code == 200


def test_users_without_the_import_right_are_refused(web, login_as, db):
    from crm.access.services import set_user_permissions

    user = login_as("user")
    set_user_permissions(user, {"contacts": {"can_import": False}})
    db.session.commit()

    assert web.get("/admin/imports/").status_code == 403
    response = _upload(web, "a.csv", b"email\njane@example.com\n")
    assert response.status_code == 403
    assert _count(db, ImportJob) == 0


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/admin/imports/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_step_without_csrf_token_is_rejected(web, login_as, db):
    login_as("user")
    url = _job_url(_upload(web, "a.csv", b"email\njane@example.com\n"))
    web.post(url, {"on_duplicate": "update", "map-0": "email1", "action": "import"})

    response = web.client.post(url + "step", headers={"Accept": "application/json"})

    assert response.status_code == 400
    assert _count(db) == 0


def test_step_without_javascript_redirects_back(web, login_as, db):
    login_as("user")
    url = _job_url(_upload(web, "a.csv", b"email\njane@example.com\n"))
    web.post(url, {"on_duplicate": "update", "map-0": "email1", "action": "import"})

    response = web.post(url + "step")

    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    assert _count(db) == 1


def test_upload_without_a_file_says_so(web, login_as, db):
    login_as("user")
    response = web.post(
        "/admin/imports/upload",
        {},
        content_type="multipart/form-data",
        follow_redirects=True,
    )
    assert "Choose a CSV or vCard file" in response.get_data(as_text=True)


def test_a_step_taken_by_another_request_imports_nothing(web, login_as, db):
    from sqlalchemy import text
    from sqlalchemy.orm.exc import StaleDataError

    from crm.imports import jobs

    user = login_as("user")
    url = _job_url(_upload(web, "a.csv", b"email\njane@example.com\n"))
    web.post(url, {"on_duplicate": "update", "map-0": "email1", "action": "import"})
    job = db.session.scalar(select(ImportJob))
    with db.engine.begin() as other:
        other.execute(text("UPDATE import_jobs SET version = version + 1"))

    with pytest.raises(StaleDataError):
        jobs.step(job, user)
    db.session.rollback()

    assert _count(db) == 0
