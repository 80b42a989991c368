"""A page with a heading of its own shows no view-name heading above it."""

VIEW_HEADING = '<h4 class="mb-4">'


def test_pages_with_their_own_heading_show_one(web, login_as, make_contact):
    jane = make_contact("Jane", "Doe")
    login_as("admin")
    for url in (
        "/admin/imports/",
        f"/admin/contact/details/?id={jane.id}",
        f"/admin/contact_general/edit/?id={jane.id}",
        "/admin/my-tasks/",
    ):
        page = web.get(url).get_data(as_text=True)
        assert "<h1" in page, url
        assert VIEW_HEADING not in page, url


def test_a_plain_list_keeps_its_view_name_heading(web, login_as):
    login_as("admin")
    page = web.get("/admin/tag/").get_data(as_text=True)
    assert VIEW_HEADING in page


def test_a_custom_tab_editor_has_the_record_heading_and_tabs(
    db, web, login_as, make_contact
):
    from crm.customfields.models import CustomField, CustomHeader, CustomTab

    jane = make_contact("Jane", "Doe")
    tab = CustomTab(name="Contract")
    header = CustomHeader(tab=tab, name="Terms")
    db.session.add_all(
        [
            tab,
            header,
            CustomField(
                header=header, label="Seats", field_name="Seats", field_type="text"
            ),
        ]
    )
    db.session.commit()
    login_as("admin")

    page = web.get(f"/admin/custom-values/{jane.id}/{tab.id}/").get_data(as_text=True)

    assert 'id="record-name">Jane Doe<' in page
    assert 'id="tabs-top"' in page and ">Contract</a>" in page
    assert "Back to the list" in page
    assert VIEW_HEADING not in page
