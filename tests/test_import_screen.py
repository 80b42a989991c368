import re

from sqlalchemy import func, select

from crm.contacts.models import Contact


def _upload(web, name, data):
    from io import BytesIO

    return web.post(
        "/admin/imports/upload",
        {"file": (BytesIO(data), name)},
        content_type="multipart/form-data",
    )


def _job_id(response):
    return int(
        re.search(r"/admin/imports/(\d+)/", response.headers["Location"]).group(1)
    )


def _form(page):
    """The posted fields of the job form as a browser would send them."""
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


def test_csv_upload_preview_check_and_import_with_progress(web, login_as, db, corpus):
    login_as("user")
    data = (corpus / "crafted" / "keap-style-export.csv").read_bytes()
    response = _upload(web, "keap-style-export.csv", data)
    assert response.status_code == 302
    job_id = _job_id(response)

    page = web.get(f"/admin/imports/{job_id}/").get_data(as_text=True)
    assert "utf-8" in page
    assert "Keap / Infusionsoft" in page
    assert "Ümit" in page
    form = _form(page)
    assert form["map-1"] == "given_name"

    form["action"] = "check"
    response = web.post(f"/admin/imports/{job_id}/", form)
    assert response.status_code == 302
    page = web.get(f"/admin/imports/{job_id}/").get_data(as_text=True)
    assert "created 12, updated 0, skipped 0, failed 0" in page
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 0

    form["action"] = "import"
    response = web.post(f"/admin/imports/{job_id}/", form)
    assert response.headers["Location"].endswith(f"/admin/imports/{job_id}/progress")
    page = web.get(f"/admin/imports/{job_id}/progress").get_data(as_text=True)
    assert "progress-bar" in page
    steps = 0
    while True:
        steps += 1
        data = web.post(
            f"/admin/imports/{job_id}/step", headers={"Accept": "application/json"}
        ).get_json()
        if data["next"]:
            break
    assert data["state"] == "done"
    assert data["summary"] == "created 12, updated 0, skipped 0, failed 0"
    page = web.get(data["next"]).get_data(as_text=True)
    assert "created 12, updated 0, skipped 0, failed 0" in page
    assert db.session.scalar(select(func.count()).select_from(Contact)) == 12
