"""Issue 2's "Done when", step by step over HTTP, as one administrator.

Import both corpus files through the import screen, find a contact by a
fragment of its e-mail, open it, edit every top-row tab, define a custom tab
with three fields of different types and fill it, link two contacts, apply a
new tag in a new category, and export the list as CSV and vCard.
"""

import re

from sqlalchemy import func, select

from crm.contacts.models import Contact
from crm.customfields import services as custom
from crm.customfields.models import CustomField, CustomHeader, CustomTab
from crm.links.models import ContactLink, LinkType
from crm.tags.models import ContactTag
from tests.record_helpers import edit, record_url, reload
from tests.test_export import cards, csv_records, export, list_ids
from tests.test_import_screen import _form, _job_url, _run_steps, _upload

ERROR_TITLE = re.compile(r"<title>\s*\d{3} · CRM\s*</title>")


def ok(response, *statuses):
    """Fail unless the answer has an expected status and is no error page."""
    statuses = statuses or (200, 302)
    assert response.status_code in statuses, (response.status_code, response.request)
    if response.mimetype == "text/html":
        page = response.get_data(as_text=True)
        assert not ERROR_TITLE.search(page), page[:500]
        assert "Traceback" not in page
    return response


def page_of(response):
    return ok(response, 200).get_data(as_text=True)


def import_file(web, path, created):
    """Upload, preview, import in steps, open the summary."""
    ok(web.get("/admin/imports/"), 200)
    url = _job_url(ok(_upload(web, path.name, path.read_bytes())))
    form = _form(page_of(web.get(url)))

    ok(web.post(url, {**form, "action": "import"}), 302)
    ok(web.get(url + "progress"), 200)
    data, _steps = _run_steps(web, url)

    assert data["state"] == "done"
    summary = f"created {created}, updated 0, skipped 0, failed 0"
    assert data["summary"] == summary
    assert summary in page_of(web.get(data["next"]))


def find_one(web, fragment):
    """Search the list by a fragment and return the only row's id."""
    (row_id,) = list_ids(web, search=fragment)
    ok(web.get("/admin/contact/", query_string={"search": fragment}), 200)
    return int(row_id)


def edit_top_tabs(web, contact_id):
    """Edit General, Address, Additional info and Person notes in turn."""
    for tab, changes in (
        (
            "general",
            {"job_title": "Head of Buying", "phones__0__number": "+34 91 999 00 00"},
        ),
        (
            "address",
            {
                "billing_addresses__0__line1": "Gran Vía 1",
                "billing_addresses__0__locality": "Madrid",
                "billing_addresses__0__postal_code": "28013",
                "billing_addresses__0__country_code": "ESP",
            },
        ),
        ("additional", {"spouse_name": "Kenji Tanaka", "referral_code": "REF-7"}),
        ("notes", {"person_notes": "Met at the fair.\nCall in May."}),
    ):
        assert "Contact saved." in page_of(edit(web, tab, contact_id, **changes))


def define_custom_tab(web, db):
    """Settings: a tab, a header and three fields of different types."""
    for url in ("/admin/custom_tab/", "/admin/custom_tab/new/"):
        ok(web.get(url), 200)
    ok(web.post("/admin/custom_tab/new/", {"name": "Preferences"}), 302)
    tab = db.session.scalar(select(CustomTab).where(CustomTab.name == "Preferences"))

    ok(web.get("/admin/custom_header/new/"), 200)
    ok(web.post("/admin/custom_header/new/", {"tab": str(tab.id), "name": "Shop"}), 302)
    header = db.session.scalar(select(CustomHeader).where(CustomHeader.tab == tab))

    ok(web.get("/admin/custom_field/new/"), 200)
    for label, field_type, options in (
        ("Shoe size", "whole_number", ""),
        ("Last visit", "date", ""),
        ("Colour", "dropdown", "Red\r\nGreen\r\nBlue"),
    ):
        data = {"header": str(header.id), "label": label, "field_type": field_type}
        ok(web.post("/admin/custom_field/new/", {**data, "options": options}), 302)
    db.session.expire_all()
    fields = db.session.scalars(
        select(CustomField).where(CustomField.header == header).order_by(CustomField.id)
    ).all()
    assert [f.field_type for f in fields] == ["whole_number", "date", "dropdown"]
    return tab.id, fields


def fill_custom_tab(web, db, contact_id, tab_id, fields):
    """Open the custom tab on the record and save a value in each field."""
    record = page_of(web.get(record_url(contact_id)))
    assert f'data-tab="custom-{tab_id}"' in record
    url = f"/admin/custom-values/{contact_id}/{tab_id}/"
    assert f'href="{url}"' in page_of(
        web.get(record_url(contact_id, f"custom-{tab_id}"))
    )

    size, visit, colour = fields
    contact = reload(db, Contact, contact_id)
    page_of(web.get(url))
    response = ok(
        web.post(
            url,
            {
                f"field_{size.id}": "39",
                f"field_{visit.id}": "2026-04-02",
                f"field_{colour.id}": "Green",
                "version": str(contact.version),
            },
            follow_redirects=True,
        ),
        200,
    )
    assert "Preferences saved." in response.get_data(as_text=True)


def link_contacts(web, db, contact_id, other_fragment):
    """Define a link type, find the other contact by lookup, link them."""
    ok(web.post("/admin/link_type/new/", {"name": "Colleague", "max_links": "5"}), 302)
    link_type = db.session.scalar(select(LinkType).where(LinkType.name == "Colleague"))
    page_of(web.get(record_url(contact_id, "links")))
    found = ok(
        web.get(
            "/admin/contact-links/ajax/lookup/",
            query_string={"name": "contact2", "query": other_fragment},
        ),
        200,
    ).get_json()
    ((other_id, _label),) = found

    response = web.post(
        f"/admin/contact-links/{contact_id}/link",
        {"link_type_id": str(link_type.id), "contact2": str(other_id)},
        follow_redirects=True,
    )
    assert "linked as Colleague." in page_of(response)
    return other_id


def apply_new_tag(web, contact_id):
    """On the Tags tab, create a tag in a new category and apply it."""
    page = page_of(web.get(record_url(contact_id, "tags")))
    assert f'action="/admin/tags-of/{contact_id}/new"' in page
    response = web.post(
        f"/admin/tags-of/{contact_id}/new",
        {"name": "Spring fair 2026", "category_id": "", "new_category": "Events"},
        follow_redirects=True,
    )
    assert "Tag Spring fair 2026 created and applied." in page_of(response)


def test_done_when_walk_from_import_to_export(web, login_as, db, corpus):
    login_as("admin")
    import_file(web, corpus / "crafted" / "keap-style-export.csv", 12)
    import_file(web, corpus / "salesforce-dcw" / "Contact.csv", 102)

    lucia_id = find_one(web, "TANAKA2@exam")
    assert "Lucía" in page_of(web.get(record_url(lucia_id)))
    edit_top_tabs(web, lucia_id)
    tab_id, fields = define_custom_tab(web, db)
    fill_custom_tab(web, db, lucia_id, tab_id, fields)
    patricia_id = link_contacts(web, db, lucia_id, "patricia.ryan@")
    apply_new_tag(web, lucia_id)

    records = csv_records(ok(export(web, "csv"), 200))
    carded = cards(ok(export(web, "vcf"), 200))

    # The final state, from the database.
    lucia = reload(db, Contact, lucia_id)
    assert db.session.scalar(select(func.count(Contact.id))) == 114
    assert lucia.job_title == "Head of Buying"
    assert lucia.phones[0].number == "+34 91 999 00 00"
    assert (lucia.billing_address.line1, lucia.billing_address.locality) == (
        "Gran Vía 1",
        "Madrid",
    )
    assert (lucia.spouse_name, lucia.referral_code) == ("Kenji Tanaka", "REF-7")
    assert lucia.person_notes == "Met at the fair.\nCall in May."
    assert custom.values_of(lucia) == {
        fields[0].id: "39",
        fields[1].id: "2026-04-02",
        fields[2].id: "Green",
    }
    (link,) = db.session.scalars(select(ContactLink)).all()
    assert {link.contact1_id, link.contact2_id} == {lucia_id, patricia_id}
    tags = db.session.scalars(
        select(ContactTag).where(ContactTag.contact_id == lucia_id)
    ).all()
    categories = {t.tag.name: t.tag.category and t.tag.category.name for t in tags}
    assert categories["Spring fair 2026"] == "Events"
    assert "Webinar 2026" in categories

    # The export holds every contact, with the edits.
    assert len(records) == len(carded) == 114
    (row,) = [r for r in records if r["Id"] == str(lucia_id)]
    assert (row["Job Title"], row["Email"]) == (
        "Head of Buying",
        "lucia.tanaka2@example.com",
    )
    assert "Spring fair 2026" in row["Tags"]
    assert any(
        c.fn.value == "Lucía Tanaka" and c.title.value == "Head of Buying"
        for c in carded
    )
