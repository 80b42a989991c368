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
